"""Chinese texts for meetings (三会一课). HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.checkin": "/checkin &lt;签到码&gt; — 会议或志愿服务签到、签退",
    "help.meetings": "/meetings — 近期会议及出席情况",
    "help.meeting": "/meeting — 安排会议（向导）；/meeting &lt;类型&gt; &lt;YYYY-MM-DD HH:MM&gt; &lt;名称&gt; [@ 地点] [#党小组]；/meeting &lt;编号&gt; [time|title|place|cancel …] 查看或修改",
    "help.attendance": "/attendance &lt;会议编号&gt; — 每人出席情况",
    "help.checkincode": "/checkincode &lt;会议编号&gt; — 现场签到码和二维码",
    "help.present": "/present &lt;会议编号&gt; &lt;姓名…&gt; — 手工登记到会",
    "help.minutes": "/minutes &lt;会议编号&gt; [记录] — 上传会议记录（文字或文件）",
    "menu.checkin": "签到",
    "menu.meetings": "会议列表",
    "menu.meeting": "安排会议",
    "menu.attendance": "会议出席",
    "menu.checkincode": "签到码",
    "menu.present": "手工签到",
    "menu.minutes": "会议记录",
    "kind.general": "支部党员大会",
    "kind.committee": "支部委员会",
    "kind.group": "党小组会",
    "kind.lecture": "党课",
    "wd.0": "周一",
    "wd.1": "周二",
    "wd.2": "周三",
    "wd.3": "周四",
    "wd.4": "周五",
    "wd.5": "周六",
    "wd.6": "周日",
    "meeting.when": "{at}（{wd}）",
    "meeting.head": "📅 <b>{kind}</b>：{title}",
    "meeting.time": "时间：{when}",
    "meeting.place": "地点：{place}",
    "meeting.btn_attend": "参加",
    "meeting.btn_leave": "请假",
    "meeting.invitation": "<b>会议通知</b>",
    "meeting.reminder": "⏰ <b>会议提醒</b>：{hours} 小时后开会，请准时参加。",
    "meeting.reminder_unanswered": "⏰ <b>会议提醒</b>：{hours} 小时后开会，您还没有回复，请选择「参加」或「请假」。",
    "meeting.moved": "🔁 <b>会议时间已变更</b>，请按新时间参加；如不能参加请点「请假」。",
    "meeting.changed": "✏️ <b>会议信息已更新</b>",
    "meeting.cancelled_notice": "❌ <b>会议已取消</b>",
    "meeting.cancelled_reason": "❌ <b>会议已取消</b>（原因：{reason}）",
    "meeting.closed_report": (
        "📋 会议 #{id}「{title}」签到已结束：出席 {attended}，迟到 {late}，请假 {leave}，"
        "缺席 {absent}。已向 {makeups} 人发送补学。发送 /attendance {id} 查看名单。"
    ),
    "meeting.closed_empty": (
        "📋 会议 #{id}「{title}」签到已结束，无人签到：视为未召开，不计入三会一课完成情况，"
        "也不发补学。如会议实际召开，请下次使用签到码或 /present 登记到会。"
    ),
    "meeting.too_late_to_cancel": "会议「{title}」的签到已结束，考勤已定稿，不能再取消。",
    "meeting.need_group": "党小组会需要指定党小组，例如在末尾加 #第一党小组。",
    "meeting.need_branch": "{kind}需要指定支部，例如在末尾加 #第一支部。",
    "meeting.no_title": "请填写会议名称。",
    "meeting.place_too_long": "地点太长了（最多 {limit} 字）。",
    "meeting.in_past": "会议时间必须在将来。",
    "meeting.unknown": "没有编号为 #{id} 的会议。",
    "meeting.is_cancelled": "会议「{title}」已取消。",
    "meeting.started": "会议「{title}」已开始或已结束，不能再更改。",
    "leave.empty": "请写明请假原因。",
    "leave.too_long": "请假原因太长了（{length} 字，最多 {limit} 字）。",
    "checkin.usage": "用法：/checkin &lt;6位签到码&gt;（签到码或签退码由会议或活动的组织者在现场出示）",
    "checkin.outside_window": "「{title}」的签到时间为 {opens} 至 {closes}，现在不能签到。",
    "checkin.not_invited": "您不在会议「{title}」的参会名单中，不能签到。",
    "checkin.too_many": "签到码错误次数过多，请 {minutes} 分钟后再试，或请组织者手工登记。",
    "checkin.wrong_code": "签到码不正确或已过期，请看现场最新的签到码。",
    "checkin.nothing_open": "您现在没有可以签到的会议或志愿服务活动。",
    "checkin.stale_qr": "这个签到二维码已过期，请扫描现场最新的二维码。",
    "item.head_makeup": "📘 <b>补学</b>：{title}",
    "item.makeup_not_yet": "会议记录还没有上传，上传后会发给您，届时学习后再点「已学习」。",
    "item.makeup_pending": "会议记录上传后会发送给您，请届时学习。",
    "items.kind_makeup": "补学",
    "minutes.empty": "会议记录不能为空。",
    "minutes.too_long": "会议记录太长了（{length} 字，最多 {limit} 字），请以文件形式发送。",
    "meeting.bad_time": "时间「{value}」看不懂，请写成 2026-12-01 14:30。",
    "meeting.audience_branch": "{name}全体党员",
    "meeting.audience_committee": "{name}支委委员",
    "meeting.audience_group": "{name}",
    "meeting.scheduled": (
        "✅ 已安排会议 #{id}：{kind}「{title}」\n时间：{when}\n已向 {count} 人发出通知。"
        "开会时发送 /checkincode {id} 出示签到码。"
    ),
    "meeting.usage": (
        "用法：\n/meeting — 按步骤安排会议\n"
        "/meeting &lt;类型&gt; &lt;YYYY-MM-DD HH:MM&gt; &lt;名称&gt; [@ 地点] [#党小组]\n"
        "类型：党员大会、支委会、党小组会、党课（或 general、committee、group、lecture）\n"
        "例如：/meeting 党员大会 2026-12-05 14:30 学习全会精神 @ 三楼会议室\n"
        "/meeting &lt;编号&gt; — 查看会议；/meeting &lt;编号&gt; time|title|place|cancel … — 修改或取消"
    ),
    "meeting.edit_usage": (
        "用法：/meeting {id} time 2026-12-05 15:00 ｜ /meeting {id} title 新名称 ｜ "
        "/meeting {id} place 新地点 ｜ /meeting {id} cancel [原因]"
    ),
    "meeting.cancelled_done": "会议 #{id}「{title}」已取消，已通知 {count} 人。",
    "meeting.edited": "会议 #{id}「{title}」已修改，已通知 {count} 人。",
    "meeting.status_scheduled": "状态：未开始",
    "meeting.status_closed": "状态：已结束",
    "meeting.status_cancelled": "状态：已取消",
    "meeting.counts": "邀请 {invited} 人：参加 {attending}，请假 {leave}，已签到 {checked_in}",
    "meeting.btn_code": "签到码",
    "meeting.btn_attendance": "出席情况",
    "meeting.ask_kind": "安排哪类会议？（随时发送 /cancel 放弃）",
    "meeting.ask_time": "会议时间？例如 2026-12-05 14:30",
    "meeting.ask_title": "会议名称（议题）？",
    "meeting.ask_place": "会议地点？不填请点下方按钮。",
    "meeting.ask_group": "哪个党小组的会议？",
    "meeting.ask_confirm": "请点「确认安排」或「取消」。",
    "meeting.more_groups": "（只列出前几个党小组；其他党小组请用一行命令，末尾加 #党小组名）",
    "meeting.btn_no_place": "不填地点",
    "meeting.preview": (
        "<b>请确认</b>\n类型：{kind}\n名称：{title}\n时间：{when}\n地点：{place}\n参会：{audience}"
    ),
    "meeting.btn_confirm": "确认安排",
    "meeting.btn_cancel": "取消",
    "meeting.dialog_cancelled": "已放弃，未安排会议。",
    "meeting.expired": "这个步骤已失效，请重新发送 /meeting。",
    "meeting.answered_attend": "已回复：参加",
    "meeting.answer_same": "您已经回复过了",
    "leave.prompt": "请回复请假原因（「{title}」）。发送 /cancel 放弃。",
    "leave.saved": "已请假：「{title}」。会后会给您发送补学材料。开会前仍可改为「参加」。",
    "checkin.done": "✅ 签到成功：「{title}」",
    "checkin.late": "✅ 签到成功：「{title}」（迟到）",
    "checkin.already": "您已签到过：「{title}」",
    "checkincode.usage": "用法：/checkincode &lt;会议编号&gt;（在会议开始前后出示）",
    "checkincode.caption": (
        "<b>{title}</b>\n签到码：<code>{code}</code>（{until} 前有效，每分钟更换）\n"
        "扫码或发送 /checkin {code} 签到。签到截止 {closes}。"
    ),
    "checkincode.over": "签到已结束。发送 /attendance {id} 查看出席情况。",
    "checkincode.btn_refresh": "刷新签到码",
    "present.usage": "用法：/present &lt;会议编号&gt; &lt;姓名&gt; [姓名…]，例如 /present 12 张三 李四",
    "present.title": "「{title}」手工签到：",
    "present.marked": "已登记到会：{names}",
    "present.already": "此前已签到：{names}",
    "present.unknown": "不在参会名单：{names}",
    "minutes.usage": "用法：/minutes &lt;会议编号&gt; [记录正文]；不带正文时，接着发送文字或文件。",
    "minutes.prompt": "请发送「{title}」的会议记录：文字或文件（Word、PDF 等；照片请以文件方式发送）。发送 /cancel 放弃。",
    "minutes.prompt_again": "请发送文字或文件作为会议记录（照片请以文件方式发送），或发送 /cancel 放弃。",
    "minutes.saved": "已保存会议 #{id}「{title}」的会议记录。",
    "minutes.sent": "已发给尚未补学的 {count} 人。",
    "meetings.none": "近期没有会议。发送 /meeting 安排一次。",
    "meetings.upcoming": "<b>即将召开</b>",
    "meetings.recent": "<b>近期会议</b>",
    "meetings.row": (
        "#{id} {when} {kind}「{title}」— 邀请 {invited}，参加 {attending}，请假 {leave}，"
        "签到 {checked_in}"
    ),
    "attendance.usage": "用法：/attendance &lt;会议编号&gt;（编号见 /meetings）",
    "attendance.row": "{name}：{status}",
    "attendance.at": "（{when} 签到）",
    "attendance.reason": "（原因：{reason}）",
    "attendance.made_up": "，{when} 已补学",
    "attendance.summary": "共 {total} 人：{summary}",
    "attendance.none": "未回复",
    "attendance.attend": "参加",
    "attendance.leave": "请假",
    "attendance.attended": "出席",
    "attendance.late": "迟到",
    "attendance.absent": "缺席",
    "me.attendance": (
        "本季度会议：应参加 {invited}，出席 {attended}，迟到 {late}，请假 {leave}，"
        "缺席 {absent}，已补学 {made_up}"
    ),
}
