"""Chinese texts (the default). HTML parse mode: parameters are escaped by bot.texts.t."""

TEXTS: dict[str, str] = {
    # Roles
    "role.member": "党员",
    "role.group_leader": "党小组长",
    "role.secretary": "支部书记",
    "role.admin": "管理员",
    # Commands: usage and one-line description for /help
    "help.start": "/start &lt;邀请码&gt; — 用邀请码绑定账号",
    "help.help": "/help — 可用命令",
    "help.me": "/me — 我的信息",
    "help.lang": "/lang zh|en — 切换语言",
    "help.members": "/members [支部] — 各小组绑定情况及未绑定名单",
    "help.invites": "/invites [支部] — 未绑定成员的邀请链接",
    "help.setrole": "/setrole &lt;姓名或#编号&gt; &lt;member|group_leader|secretary|admin&gt; — 设置角色",
    "help.import": "/import — 如何导入花名册（发送 CSV 文件）",
    "menu.start": "绑定账号",
    "menu.help": "可用命令",
    "menu.me": "我的信息",
    "menu.lang": "切换语言 / Language",
    "menu.members": "成员绑定情况",
    "menu.invites": "邀请链接",
    "menu.setrole": "设置角色",
    "menu.import": "导入花名册",
    "help.title": "<b>您可以使用的命令</b>",
    # Onboarding
    "start.stranger": (
        "您好！这是 {org} 的党建助手。\n"
        "请向您所在支部的书记索取专属邀请链接，点击链接即可加入。\n"
        "Hello! Ask your branch secretary for your personal invite link to join."
    ),
    "start.welcome": "欢迎，{name}！\n您已加入 {org}：{place}。\n角色：{role}",
    "start.welcome_back": "{name}，您已绑定，无需重复操作。\n{place}，角色：{role}",
    "start.already_member": "您好，{name}！{place}，角色：{role}",
    "place.branch_group": "{branch} · {group}",
    "place.branch": "{branch}",
    "place.org": "组织管理员",
    "invite_unknown": "邀请码无效。请核对链接，或向支部书记索取新的邀请链接。",
    "invite_used": "该邀请码已被使用。如需帮助，请联系支部书记。",
    "invite_expired": "该邀请码已过期。请向支部书记索取新的邀请链接。",
    "account_already_bound": "您的账号已绑定到成员「{name}」。一个账号只能绑定一名成员。",
    # Generic refusals
    "not_registered": "您尚未加入。请向支部书记索取邀请链接，点击后即可使用。",
    "no_permission": "抱歉，您没有使用此命令的权限。发送 /help 查看可用命令。",
    "out_of_scope": "抱歉，这超出了您的管理范围。",
    "not_your_button": "这个按钮不是给您的。",
    "unknown_command": "未知命令。发送 /help 查看可用命令。",
    "error.internal": "抱歉，处理时出错了，请稍后再试。（编号 {ref}）",
    "usage": "用法：{usage}",
    # /me
    "me.card": (
        "<b>{name}</b>（#{id}）\n"
        "支部：{branch}\n党小组：{group}\n角色：{role}\n电话：{phone}\n"
        "语言：{language}\n绑定时间：{bound_at}"
    ),
    "none": "—",
    # /lang
    "lang_usage": "用法：/lang zh 或 /lang en",
    "lang.set": "语言已切换为中文。",
    "lang.name_zh": "中文",
    "lang.name_en": "English",
    "lang.choose": "请选择语言 / Choose a language:",
    # /members
    "members.title": "<b>成员绑定情况</b>（已绑定 {bound} / 共 {total}）",
    "members.row": "{branch} · {group}：已绑定 {bound}，未绑定 {unbound}",
    "members.no_group": "（未分组）",
    "members.unbound_title": "<b>未绑定（{count}）</b>",
    "members.unbound_row": "{name}（{place}）",
    "members.empty": "范围内还没有成员。可发送 CSV 花名册导入。",
    "members.more": "……另有 {count} 人，发送 /invites 获取完整名单。",
    # /invites
    "invites.title": "<b>邀请链接</b>（{count} 人未绑定，有效期至各行所示）",
    "invites.row": "{name}（{place}）\n{link}  有效至 {expires}",
    "invites.none": "范围内所有成员都已绑定。",
    "invites.file_caption": "邀请链接共 {count} 条（CSV）。",
    # /setrole
    "setrole.usage": "用法：/setrole &lt;姓名或#编号&gt; &lt;角色&gt;\n例如：/setrole 张三 group_leader",
    "setrole.bad_role": "未知角色「{role}」。可选：member、group_leader、secretary、admin。",
    "setrole.done": "已将 {name} 的角色由 {old} 设为 {new}。",
    "setrole.same": "{name} 的角色已是 {new}。",
    "unknown_member": "找不到您管理范围内名为「{name}」的成员。",
    "ambiguous_member": "有多名成员叫「{name}」：{options}。请用编号，例如 /setrole #12 secretary。",
    "unknown_branch": "找不到支部「{name}」。",
    "cannot_grant": "您不能授予或更改该角色（{role}）。",
    # Roster import in chat
    "import.how": (
        "导入花名册：直接把 CSV 文件发给我。\n"
        "表头（中文或英文均可）：姓名/name、支部/branch、党小组/group、角色/role、电话/phone。\n"
        "支持 UTF-8 和 GBK（Excel 另存为 CSV）。我会先给出预览，确认后才导入。"
    ),
    "import.not_csv": "请发送 .csv 文件（Excel 可“另存为 CSV”）。",
    "import.too_big": "文件太大（上限 {limit} KB）。",
    "import.preview": (
        "<b>花名册预览：{file}</b>\n"
        "新增 {created} 人，更新 {updated} 人，不变 {unchanged} 人。\n"
        "新支部：{branches}\n新小组：{groups}"
    ),
    "import.errors_title": "<b>有 {count} 行有误</b>（有误时默认不导入）：",
    "import.error_row": "第 {line} 行：{reason}",
    "import.errors_more": "……另有 {count} 行有误。",
    "import.nothing": "没有可导入的内容。",
    "import.confirm": "确认导入",
    "import.skip_bad": "跳过错误行并导入",
    "import.cancel": "取消",
    "import.done": "已导入：新增 {created} 人，更新 {updated} 人，不变 {unchanged} 人，跳过 {skipped} 行。\n发送 /invites 获取邀请链接。",
    "import.cancelled": "已取消导入。",
    "import.refused": "文件有误，未导入任何内容。请修正后重新发送。",
    "import_unknown": "找不到这次上传，请重新发送文件。",
    "import_settled": "这次上传已处理过（{status}）。",
    "status.applied": "已导入",
    "status.cancelled": "已取消",
    "roster_file.too_large": "文件太大（上限 {value} KB）。",
    "roster_file.encoding": "无法识别文件编码，请保存为 UTF-8 或 GBK 的 CSV。",
    "roster_file.empty": "文件是空的。",
    "roster_file.malformed": "CSV 格式有误：{value}",
    "roster_file.missing_column": "缺少必需的列：{value}",
    "roster_err.no_name": "姓名为空",
    "roster_err.name_too_long": "姓名过长（{value}…）",
    "roster_err.no_branch": "支部为空（{value}）",
    "roster_err.bad_role": "未知角色「{value}」",
    "roster_err.bad_phone": "电话格式有误「{value}」",
    "roster_err.duplicate": "与前面的行重复：{value}",
    "roster_err.malformed": "CSV 格式有误：{value}",
    "roster_err.other_branch": "不是您的支部「{value}」",
    "roster_err.cannot_grant_admin": "无权设置管理员（{value}）",
    "button.done": "已处理",
}
