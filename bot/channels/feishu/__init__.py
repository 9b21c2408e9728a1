"""Feishu (飞书, Lark abroad): its events in, its IM API out."""
