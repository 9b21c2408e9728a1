"""Chinese texts for compliance. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.compliance": "/compliance [month|quarter|YYYY-MM|YYYY-Qn] — 三会一课完成情况",
    "menu.compliance": "三会一课完成情况",
    "compliance.usage": (
        "无法识别的期间「{value}」。\n"
        "用法：/compliance [本月|本季度|YYYY-MM|YYYY-Qn]，不写则为本季度。\n"
        "例如：/compliance 本月、/compliance 2026-03、/compliance 2026-Q1"
    ),
    "compliance.month_label": "{year}年{month}月",
    "compliance.quarter_label": "{year}年第{quarter}季度",
    "compliance.title": "📊 <b>三会一课完成情况</b>：{period}（{start} 至 {end}）",
    "compliance.branch": "🏢 <b>{name}</b>",
    "compliance.group": "👥 {name}",
    "compliance.row": "{mark} {kind}：应开 {required}，已开 {held}{extra}",
    "compliance.planned": "，已安排 {count}",
    "compliance.overdue": "，<b>逾期未开：{periods}</b>",
    "compliance.sep": "、",
    "compliance.by_quarter": "（按季度统计：{period}）",
    "compliance.legend": "✅ 已完成　⏳ 本期进行中　❗ 逾期未开　▫️ 尚未开始　➖ 不计（成立或统计起点之前）",
    "compliance.since": "（{date} 起统计）",
    "compliance.not_yet": "（尚无成员或会议记录，不计）",
    "compliance.none": "没有可显示的支部或党小组。",
    "compliance.no_rules": "配置中没有需要统计的会议类型。",
    "compliance.remind": (
        "⏰ <b>三会一课提醒</b>\n以下会议本期还没有召开，也没有安排：\n{lines}\n"
        "请用 /meeting 安排会议；发送 /compliance 查看完成情况。"
    ),
    "compliance.remind_line": "• {unit}：{kind}（{period}，{deadline} 截止）应开 {required} 次，已开 {held} 次",
}
