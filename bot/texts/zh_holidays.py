"""放假安排：国务院通知的导入、查看，以及缺少官方安排时的提示。"""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "help.holidays": "/holidays [年份] — 查看放假安排和调休上班日，以及每个日期的来源（官方日历、导入的通知或估算）",
    "help.holidays_import": "/holidays import [通知全文] — 导入国务院放假安排通知，确认后用于节前提醒和工作日计算",
    "menu.holidays": "放假安排",
    "menu.holidays_import": "导入放假通知",
    "holidays.usage": (
        "用法：\n/holidays [年份] — 查看放假安排及来源\n"
        "/holidays import [通知全文] — 导入国务院放假安排通知（管理员）"
    ),
    "holidays.bad_year": "「{value}」不是年份：年份须在 2000 至 2100 年之间。",
    "holidays.title": "{year} 年放假安排",
    "holidays.source.official": "官方日历",
    "holidays.source.notice": "导入的通知",
    "holidays.source.estimate": "估算",
    "holidays.from_official": "来源：已安装的官方日历（chinese-calendar 转录的国务院通知）。",
    "holidays.from_notice": "来源：导入的国务院通知（{when} 确认，{who}）。",
    "holidays.by_cli": "命令行导入",
    "holidays.from_estimate": (
        "来源：估算。官方安排尚未收录（已安装的日历只到 {last} 年，也没有导入的通知），"
        "只含法定假日及周末的补假，不含调休上班，实际放假可能更长。"
        "国务院通知发布后，管理员发送 /holidays import 加通知全文即可导入。"
    ),
    "holidays.no_data": "没有 {year} 年的节假日数据。",
    "holidays.break_row": "{name}：{days}，共 {count} 天{makeup}〔{source}〕",
    "holidays.item_row": "{name}：{days}，共 {count} 天{makeup}",
    "holidays.makeup": "；调休上班：{days}",
    "holidays.span": "{start}至{end}",
    "holidays.day": "{month}月{day}日（{weekday}）",
    "holidays.day_in_year": "{year}年{month}月{day}日（{weekday}）",
    "holidays.weekdays": "周一,周二,周三,周四,周五,周六,周日",
    "holidays.months": "1,2,3,4,5,6,7,8,9,10,11,12",
    "holidays.list_sep": "、",
    "holidays.paste": (
        "请把国务院办公厅的放假安排通知全文（含标题「国务院办公厅关于20XX年部分节假日安排的通知」）"
        "作为下一条消息粘贴发给我，也可以写在 /holidays import 后面。我会先给出解析结果，确认后才导入。"
        "发送 /cancel 取消。"
    ),
    "holidays.paste_text": "请把通知全文作为文字粘贴发送（不是文件或图片），或发送 /cancel 取消。",
    "holidays.paste_again": "请修改后重新粘贴发送通知全文，或发送 /cancel 取消。",
    "holidays.preview_title": "{title}\n解析结果（{year} 年）：",
    "holidays.preview_totals": "共 {items} 项，放假 {off} 天，调休上班 {work} 天。",
    "holidays.preview_effect": "确认后，{year} 年的节前提醒和工作日按这份通知计算，代替{instead}。",
    "holidays.instead.estimate": "现在的估算日期",
    "holidays.instead.official": "已安装日历中的数据",
    "holidays.instead.notice": "{when} 导入的通知",
    "holidays.same_as_installed": "✅ 与已安装的官方日历完全一致。",
    "holidays.differs": "⚠️ 与已安装的官方日历有 {count} 天不同，请仔细核对。",
    "holidays.confirm": "确认",
    "holidays.cancel": "取消",
    "holidays.imported": "已导入 {year} 年放假安排：放假 {off} 天，调休上班 {work} 天。",
    "holidays.moved": "{count} 条节前提醒已按新日期重新安排。",
    "holidays.cancelled": "已取消，未导入。",
    "holidays.unknown": "找不到这份通知，请重新发送。",
    "holidays.settled": "这份通知已处理过（{status}）。",
    "holidays.status.active": "已导入",
    "holidays.status.replaced": "已被更新的通知代替",
    "holidays.status.cancelled": "已取消",
    "holidays.err.no_year": "无法读取这份通知：找不到年份。请连同标题「国务院办公厅关于20XX年部分节假日安排的通知」一起发送。",
    "holidays.err.year_range": "无法读取这份通知：年份须在 2000 至 2100 年之间（{value}）。",
    "holidays.err.no_items": "无法读取这份通知：没有找到「一、元旦：1月1日至3日放假调休，共3天。」这样的条目。",
    "holidays.err.unknown_holiday": "无法读取这份通知：不认识的节日「{value}」。",
    "holidays.err.no_month": "无法读取这份通知：日期缺少月份（{value}）。",
    "holidays.err.bad_date": "无法读取这份通知：日期不存在（{value}）。",
    "holidays.err.bad_range": "无法读取这份通知：日期范围有误（{value}）。",
    "holidays.err.no_days_off": "无法读取这份通知：「{value}」一项没有放假日期。",
    "holidays.err.count": "无法读取这份通知：天数与日期不符（{value}）。",
    "holidays.err.overlap": "无法读取这份通知：同一天出现了两次（{value}）。",
    "holidays.err.too_long": "无法读取这份通知：文字太长（最多 {value} 字），请只发送通知本身。",
    "holidays.estimate_warning": (
        "⚠️ {years} 年的放假安排尚未收录（已安装的日历只到 {last} 年），这些年份的提醒日期是估算的，"
        "不含调休。国务院通知发布后，请管理员发送 /holidays import 加通知全文导入，提醒日期随之更新。"
    ),
    "holidays.alert": (
        "📅 {year} 年的放假安排尚未收录：已安装的日历只到 {last} 年，{year} 年的节前提醒和工作日"
        "现在按估算计算（不含调休）。国务院办公厅通常在 11 月发布《关于{year}年部分节假日安排的通知》，"
        "发布后请发送 /holidays import 加通知全文，确认后即按通知计算。"
    ),
    "holidays.check_warning": (
        "{year} 年没有官方放假安排（已安装的 chinese-calendar 只到 {last} 年，也没有导入的通知），"
        "节前提醒和工作日按估算计算；通知发布后请运行 branchbot holidays import 通知.txt --config {config}"
    ),
    "holidays.check_unread": "未能读取数据库，没有检查已导入的放假通知（{error}）",
    "holidays.cli_prompt": "导入这份通知？[y/N] ",
    "holidays.cli_not_imported": "未导入。",
    "holidays.cli_need_yes": "没有在终端中运行，无法询问：确认无误后加 --yes 再运行。",
    "holidays.cli_no_file": "找不到文件：{value}",
    "holidays.cli_encoding": "无法识别文件编码，请保存为 UTF-8 或 GBK 文本。",
}
