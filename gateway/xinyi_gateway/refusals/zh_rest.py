"""Chinese wording of the refusals of the gateway, the shared kit, disclosure and
notifications (see `xinyi_gateway.refusals`)."""

ZH: dict[str, str] = {
    # -- disclosure ------------------------------------------------------------------------------
    "a month is written YYYY-MM, e.g. 2026-10": "月份的格式为 YYYY-MM，例如 2026-10",
    "a month's year is 1900 to 2999": "月份中的年份须在 1900 至 2999 之间",
    "no such estate (or its registration has not reached disclosure yet)": (
        "没有找到该小区（或该小区的登记信息尚未同步到公示）"
    ),
    "format is one of {}": "format（格式）须为以下之一：{0}",
    "explain the flag in words owners read (at most 2,000)": (
        "请用业主看得懂的文字说明这项异常标记（不超过 2,000 字）"
    ),
    "months is 1 to 36": "months（月数）须在 1 至 36 之间",
    "no such estate (or its registration has not reached disclosure)": (
        "没有找到该小区（或该小区的登记信息尚未同步到公示）"
    ),
    "no such flag": "没有找到该异常标记",
    "a community's KPIs are for its supervisors and the operator": (
        "社区指标仅供该社区的监察人和平台运营方查看"
    ),
    "a street's KPIs are for the operator and the supervisors of its communities": (
        "街道指标仅供平台运营方和该街道各社区的监察人查看"
    ),
    "no such street (or its communities have not reached disclosure yet)": (
        "没有找到该街道（或该街道的社区尚未同步到公示）"
    ),
    "the city's KPIs are the operator's": "全市指标仅供平台运营方查看",
    "topic is one of {}": "topic（公开事项）须为以下之一：{0}",
    "write the disclosure in owners' words (at most {})": (
        "请用业主看得懂的文字填写公开内容（不超过 {0} 字）"
    ),
    "the company has not disclosed this topic yet": "物业服务企业尚未公开这一事项",
    # -- notifications ---------------------------------------------------------------------------
    "page_size must be between 1 and 200": "page_size 须在 1 至 200 之间",
    "wait_seconds must be between 0 and {}": "wait_seconds 须在 0 至 {0} 之间",
    "email is not an e-mail address": "email 填写的不是有效的电子邮箱地址",
    "phone must be digits (with an optional leading +), 6 to 20": (
        "phone（手机号）只能是数字（可以 + 开头），6 到 20 位"
    ),
    "quiet hours are two times HH:MM (e.g. 22:00 and 07:00), or both empty": (
        "免打扰时段须同时填写开始和结束时间，格式为 HH:MM（例如 22:00 和 07:00），或者都不填"
    ),
    "language is zh or en": "language（语言）须为 zh 或 en",
    (
        "url must be an absolute https:// address (or http:// outside production) of at "
        "most {} characters"
    ): ("url 须为完整的 https:// 地址（非生产环境也可用 http://），不超过 {0} 个字符"),
    "url must be an absolute https:// address of at most {} characters": (
        "url 须为完整的 https:// 地址，不超过 {0} 个字符"
    ),
    "url must not carry credentials; the signature proves origin": (
        "url 中不得包含用户名或密码；消息来源由签名证明"
    ),
    "unknown message kind {}": "未知的消息类型：{0}",
    "give estate_id or company_id, one of the two": "请在 estate_id 和 company_id 中二选一填写",
    "only the company's manager removes its webhooks": (
        "只有该物业服务企业的项目经理可以删除其网络回调（webhook）"
    ),
    "the kind {} is given twice": "消息类型 {0} 填写了两次",
    "{} is security-relevant: it is never held back": (
        "{0} 是安全相关的消息，总是立即发送，不能合并到每日汇总"
    ),
    "only the company's manager sets up its webhooks": (
        "只有该物业服务企业的项目经理可以设置其网络回调（webhook）"
    ),
    "only the company's manager sees its webhooks": (
        "只有该物业服务企业的项目经理可以查看其网络回调（webhook）"
    ),
    "no such webhook": "没有找到该网络回调（webhook）",
    "no such dead letter": "没有找到这条投递失败的通知",
    "the delivery is {}, not a dead letter": "该投递处于“{0}”状态，不是投递失败的通知",
    "no such message in your inbox": "在您的站内消息中没有找到这条消息",
    "only the company's manager sees its dead letters": (
        "只有该物业服务企业的项目经理可以查看其投递失败的通知"
    ),
    "every dead letter of the platform is the operator's to see": (
        "全平台投递失败的通知仅供平台运营方查看"
    ),
    # -- the shared kit --------------------------------------------------------------------------
    "your roles do not allow this ({})": "您的角色不允许执行此操作（{0}）",
    "sign in first: this call needs an access token": "请先登录：此操作需要访问令牌",
    "only the platform operator may do this": "只有平台运营方可以执行此操作",
    "the access token has expired; refresh it or sign in again": (
        "访问令牌已过期，请刷新令牌或重新登录"
    ),
    "the access token is not valid yet; check the device's clock": (
        "访问令牌尚未生效，请检查设备时间是否准确"
    ),
    "use an Authorization header of the form 'Bearer <token>'": (
        "请使用 'Bearer <令牌>' 格式的 Authorization 请求头"
    ),
    "the access token names no signing key; sign in again": "访问令牌未注明签名密钥，请重新登录",
    "the access token was signed by an unknown key; sign in again": (
        "访问令牌的签名密钥无法识别，请重新登录"
    ),
    "the access token is malformed; sign in again": "访问令牌格式不正确，请重新登录",
    "the access token is not valid; sign in again": "访问令牌无效，请重新登录",
    (
        "another change to the same records got in the way, and nothing of this one was made; "
        "try again"
    ): ("另一项修改同时涉及相同的记录，本次操作未作任何改动，请重试"),
    "the database is busy; try again shortly": "数据库繁忙，请稍后重试",
    "the database is unavailable; try again shortly": "数据库暂时不可用，请稍后重试",
    "the database connection was lost; try again shortly": "与数据库的连接已中断，请稍后重试",
    "limit is 1 to 1000": "limit 须在 1 至 1000 之间",
    "after_seq is 0 or more": "after_seq 须大于或等于 0",
    "estate_id must be a UUID": "estate_id 须为 UUID",
    "{} must not contain the NUL character": "{0} 中不得包含 NUL 字符",
    # -- the gateway -----------------------------------------------------------------------------
    "there is no API endpoint at /api/{}": "没有 /api/{0} 这个 API 接口",
    "sign in first: send 'Authorization: Bearer <access token>'": (
        "请先登录：请求中须带有 'Authorization: Bearer <访问令牌>'"
    ),
    "the request is not valid: {}": "请求无效：{0}",
    "an unexpected error occurred; it was logged with this trace id": (
        "发生了意外错误，已连同此追踪编号（trace id）记入日志"
    ),
    "too many sign-in attempts from here; wait {} s": (
        "此网络地址的登录尝试次数过多，请等待 {0} 秒后再试"
    ),
    "send the CSV file as the request body, Content-Type text/csv": (
        "请将 CSV 文件作为请求体发送，Content-Type 为 text/csv"
    ),
    "the file has {} problem(s), nothing was imported; first, line {}: {}": (
        "文件中有 {0} 处问题，没有导入任何数据；第一处在第 {1} 行：{2}"
    ),
    "as_of must be an instant like 2026-01-31T00:00:00+08:00": (
        "as_of 须为一个时间点，例如 2026-01-31T00:00:00+08:00"
    ),
    "a statement file is at most {} bytes": "银行对账单文件不能超过 {0} 字节",
    "the request body is empty: send the statement file's bytes": (
        "请求体为空：请发送银行对账单文件的内容"
    ),
    "the time is out of range: give a date between 0001 and 9999": (
        "时间超出范围：请给出 0001 年至 9999 年之间的日期"
    ),
    'payroll_totals must be a JSON object of role to fen, e.g. {{"保洁员": 1234500}}': (
        'payroll_totals 须为 JSON 对象，键为岗位、值为金额（分），例如 {{"保洁员": 1234500}}'
    ),
    "{} is one of {}; send it with that Content-Type, not {}": (
        "{0} 的类型须为以下之一：{1}；请使用相应的 Content-Type 发送，而不是 {2}"
    ),
    "the request body is larger than the limit of {} bytes": "请求体超过了 {0} 字节的上限",
    "the request body is empty: send the file's bytes as the body": (
        "请求体为空：请将文件内容作为请求体发送"
    ),
    # Refused outside a route: the body limit's target check, and a field validator.
    "the path and query are longer than the limit of {} bytes": (
        "请求路径和查询参数超过了 {0} 字节的上限"
    ),
    "text must be valid Unicode (no lone surrogates)": (
        "文本须为有效的 Unicode（不能含孤立的代理字符）"
    ),
    # Refusals kept in constants, or returned by a check and raised by its caller.
    "the username or password is wrong": "用户名或密码不正确",
    "this entry is not reversed": "这条记录不能冲销",
    "a payment out is not reversed: the bank paid it; money coming back is income "
    "(a refund) on the bank's evidence": (
        "付款不能冲销：银行已经付出这笔钱；退回的钱凭银行回单记为收入（退款）"
    ),
    "remuneration follows the income it accrues on: reverse that income instead": (
        "酬金随其所计提的收入而定：请冲销那笔收入"
    ),
    "a reversal is not reversed: post the entry again instead": (
        "冲销记录不能再冲销：请重新记一笔"
    ),
    "opening balances are not reversed: they are the estate's start": (
        "期初余额不能冲销：它们是小区账目的起点"
    ),
    "a transfer between the fund's accounts is not reversed": "共有基金各账户之间的转账不能冲销",
    "unknown message kind {}; the kinds are: {}": "没有 {0} 这种消息类型；可用的类型有：{1}",
    "unknown channel {}; channels are inbox, email and sms": (
        "没有 {0} 这种渠道；可用的渠道有 inbox、email 和 sms"
    ),
    "{} is security-relevant: it always reaches the inbox and cannot be switched off": (
        "{0} 与账号安全有关：总会送达站内消息，不能关闭"
    ),
    # The gateway's own answers for a service's fault, and the framework's words it rewords.
    "a service did not answer in time; try again shortly": "服务没有及时响应，请稍后再试",
    "a service is unavailable; try again shortly": "服务暂时不可用，请稍后再试",
    "a service failed to answer; the error was logged": "服务未能给出答复，错误已记录",
    "the request body cannot be read: send JSON in UTF-8": (
        "无法读取请求体：请以 UTF-8 编码的 JSON 发送"
    ),
    "there is nothing at this address": "这个地址没有内容",
    "this address does not take this method": "这个地址不支持该请求方法",
}
