"""Chinese texts for time polls. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.timepoll": "/timepoll [类型] &lt;名称&gt; [#党小组] | &lt;时间&gt; | &lt;时间&gt; … — 征集大家方便的时间",
    "menu.timepoll": "时间征集",
    "poll.usage": (
        "用法：/timepoll [类型] &lt;名称&gt; [#支部或党小组] | &lt;时间&gt; | &lt;时间&gt; …\n"
        "例如：/timepoll 党员大会 第四季度党员大会 | 11-28 14:30 | 11-29 19:00 | 2026-12-02 15:00\n"
        "时间写作 YYYY-MM-DD HH:MM 或 MM-DD HH:MM，2 至 8 个，用 | 隔开。"
        "类型可省略（默认支部党员大会），也可写 支委会、党小组会、党课。\n"
        "/timepoll &lt;编号&gt; 重新显示某次征集的统计。"
    ),
    "poll.bad_slot": "看不懂时间「{slot}」，请写成 11-28 14:30 或 2026-11-28 14:30。",
    "poll.slot_count": "请给出 {min} 至 {max} 个时间（现在是 {count} 个），用 | 隔开。",
    "poll.slot_duplicate": "时间 {slot} 重复了。",
    "poll.slot_past": "时间 {slot} 已经过去了，请给出将来的时间。",
    "poll.unknown": "没有编号为 #{id} 的时间征集。",
    "poll.unknown_slot": "找不到这个时间选项。",
    "poll.closed": "时间征集「{title}」已结束，已定为会议 #{meeting_id}。",
    "poll.already_made": "时间征集「{title}」已经定为会议 #{meeting_id}，不会再创建会议。",
    "poll.invitation": (
        "🗳 <b>时间征集</b>：{title}（{kind}）\n"
        "请勾选您<b>能参加</b>的所有时间，可多选；再点一次可取消。"
    ),
    "poll.reminder_head": "⏰ <b>提醒</b>：您还没有勾选时间。",
    "poll.created": "已向 {sent} 人发出时间征集 #{id}「{title}」。下面的统计随投票实时更新。",
    "poll.status_head": "🗳 <b>时间征集 #{id}</b>：{title}（{kind}）",
    "poll.status_voted": "已投票 {voters}/{total} 人",
    "poll.status_slot": "• {label}：{count} 人",
    "poll.status_slot_names": "• {label}：<b>{count}</b> 人（{names}）",
    "poll.status_none": "还没有人勾选。",
    "poll.status_best": "最合适：<b>{label}</b>，{count}/{total} 人能参加",
    "poll.status_majority": "✅ 超过半数能参加",
    "poll.status_no_majority": "⚠️ 未超过半数（需要至少 {need} 人）",
    "poll.general_rule": "支部党员大会须有半数以上党员到会。",
    "poll.status_closed": "📅 已定为会议 #{meeting_id}",
    "poll.btn_make": "定为会议 {label}",
    "poll.btn_remind": "提醒未投票",
    "poll.ticked": "已勾选 {label}",
    "poll.unticked": "已取消 {label}",
    "poll.reminded": "已提醒 {count} 位还没有投票的成员。",
    "poll.all_voted": "大家都已投票，没有需要提醒的人。",
    "poll.remind_cooldown": "「提醒未投票」每 {hours} 小时只能用一次：上次提醒在 {last}，{next} 后可再提醒。",
    "poll.remind_capped": "还没有投票的 {count} 人今天收到的提醒已达上限（每人每天最多 {cap} 条），这次没有发送，请明天再提醒。",
    "poll.made": "📅 已定为会议 #{id}：{title}，{when}，已向 {invited} 人发出会议通知。",
    "poll.made_short": (
        "⚠️ 注意：这个时间只有 {count}/{total} 人能参加，未过半数；"
        "支部党员大会须有半数以上党员到会。"
    ),
    "poll.made_notice": "已创建会议 #{id}",
}
