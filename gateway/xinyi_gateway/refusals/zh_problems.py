"""Chinese wording of the file parsers' problems (bank statements, gate exports, CSV imports of
estates) and the domain's ValueErrors a refusal quotes (see `xinyi_gateway.refusals`)."""

ZH: dict[str, str] = {
    # -- a file's problems, one per line, and the count of those not shown
    "line {}: {}": "第 {0} 行：{1}",
    "and {} more": "另有 {0} 处问题未列出",
    "… and {} more problems not listed": "……另有 {0} 处问题未列出",
    # -- identity: importing an estate's buildings, units and owners (CSV)
    "too many rows: at most {} per file; split it into several files": (
        "行数太多：每个文件最多 {0} 行；请把它拆分成几个文件"
    ),
    "the file is empty; the first line must be the header": "文件是空的；第一行须为列名（表头）",
    "unknown column {}; the columns are {}": (
        "无法识别的列名 {0}；可用的列名为：{1}（也可用对应的中文列名）"
    ),
    "column {} appears twice": "{0} 列出现了两次",
    "missing column {} ({}) in the header": "表头中缺少 {0}（{1}）列",
    "value spans several lines; check for a missing closing quote": (
        "这个值跨了好几行；请检查是否漏了右引号"
    ),
    "expected {} cells like the header, found {}": "这一行应与表头一样有 {0} 列，实际有 {1} 列",
    "value {} in column {}, which has no header": "第 {1} 列没有列名，却填了值 {0}",
    "{} {} is longer than {} characters": "{0} 的值 {1} 超过 {2} 个字符",
    "{} {} is not one of {}": "{0} 的值 {1} 无效，应为以下之一：{2}",
    "exclusive_area_m2 is empty": "exclusive_area_m2（专有面积）未填写",
    "area {} is not a number of m² like 89.5 (no units)": (
        "面积 {0} 无效：请只填写平方米数，如 89.5，不要带单位"
    ),
    "area {} is not a number": "面积 {0} 不是数字",
    "area {} has more than 2 decimals": "面积 {0} 的小数超过 2 位",
    "area {} must be more than 0 and less than 100000 m²": (
        "面积 {0} 须大于 0 且小于 100000 平方米"
    ),
    "phone {} is not a mobile number of 11 digits starting 13–19": (
        "电话 {0} 不是有效的手机号码：须为 11 位数字，以 13 至 19 开头"
    ),
    "ID number is for persons only; leave it empty for a {}": (
        "证件号只适用于个人业主；业主类型为 {0} 时请留空"
    ),
    "ID number {} must be 17 digits then a digit or X{}": (
        "证件号 {0} 应为 17 位数字，最后一位为数字或 X{1}"
    ),
    "ID number {} fails its checksum; check for a typo": "证件号 {0} 的校验位不符，请检查是否输错",
    "{} is {} on line {} but {} here": "{0} 在第 {2} 行的类型是 {1}，这一行却是 {3}",
    "{} has area {} on line {} but {} here": "{0} 在第 {2} 行的面积是 {1}，这一行却是 {3}",
    "{} is named {} on line {} but {} here": "{0} 在第 {2} 行的名称是 {1}，这一行却是 {3}",
    "{} is a {} on line {} but a {} here": "{0} 在第 {2} 行的业主类型是 {1}，这一行却是 {3}",
    "{} has phone {} on line {} but {} here": "{0} 在第 {2} 行的电话是 {1}，这一行却是 {3}",
    "duplicate row: same unit and owner as line {}": "重复的行：房屋和业主都与第 {0} 行相同",
    "unit {} {} has more than {} owners": "房屋 {0} {1} 的业主超过 {2} 人",
    # -- ledger: the domain's checks
    "period must be YYYY-MM, not {}": "会计期间须为 YYYY-MM 格式，而不是 {0}",
    "last_index must not precede first_index - 1": "last_index 不能小于 first_index - 1",
    "merkle_root and chain_head are 32-byte SHA-256 digests": (
        "merkle_root 和 chain_head 须为 32 字节的 SHA-256 摘要"
    ),
    "closed_at must carry its time zone": "closed_at 须带时区",
    "the estates have no area to split by": "这些小区没有可用于分摊的面积",
    "required when XINYI_VOUCHER_STORE=s3": "XINYI_VOUCHER_STORE=s3 时必须设置",
    "the remuneration ratio must be between 0 and 1": "酬金比例须在 0 和 1 之间",
    "cumulative income cannot be negative": "累计收入不能为负数",
    "area and rate cannot be negative": "面积和收费标准不能为负数",
    "a payment cannot be negative; a refund is its own entry": (
        "缴费金额不能为负数；退款须另记一条记录"
    ),
    "arrears of {} cannot be negative": "{0} 的欠费不能为负数",
    "areas cannot be negative": "面积不能为负数",
    "there is no area to share by": "没有可用于分摊的面积",
    "the last threshold must be (None, approvals): above every bound": (
        "最后一档须为 (None, approvals)，即高于所有上限的金额"
    ),
    "approvals must be at least 1 and never fall as amounts rise": (
        "批准人数至少为 1，且金额越高，所需批准人数不能越少"
    ),
    "only the last threshold may be unbounded": "只有最后一档可以不设上限",
    "threshold bounds must be non-negative and increasing": "各档的上限不能为负数，且须逐档递增",
    "a disbursement cannot be negative": "付款金额不能为负数",
    "assessed and collected amounts cannot be negative": "应收金额和实收金额不能为负数",
    # -- bank statements: camt.053 (XML)
    "the XML is broken: {}": "XML 格式有误：{0}",
    "the XML declares a DTD, which a bank statement never needs; refused": (
        "XML 文件声明了 DTD，而银行对账单从不需要 DTD；已拒收"
    ),
    "{} is not a supported version (supported: {})": "不支持版本 {0}（支持的版本：{1}）",
    "the entry has no booking date <BookgDt>": "这笔流水没有记账日期 <BookgDt>",
    # -- bank statements: MT940
    "{} comes before the first :20: field": "{0} 出现在第一个 :20: 字段之前",
    "{}: expected {}": "{0}；正确的格式是：{1}",
    (
        "the statement line (:61:) '{}' has no transaction type (such as NTRF) after the amount; "
        "is the amount written with a decimal comma?"
    ): (
        "对账单流水（:61:）'{0}' 的金额后面没有交易类型（如 NTRF）；"
        "请检查金额是否按规定用逗号作小数点（如 1234,50）"
    ),
    "{} '{}' is not in the form {}": "{0} '{1}' 不符合格式：{2}",
    "the statement has no account (:25:)": "对账单中没有账号（:25:）",
    "the statement has no opening balance (:60F: or :60M:)": (
        "对账单中没有期初余额（:60F: 或 :60M:）"
    ),
    "the statement has no closing balance (:62F: or :62M:)": (
        "对账单中没有期末余额（:62F: 或 :62M:）"
    ),
    # -- bank statements and gate exports: text, CSV, amounts
    "unknown text encoding '{}'": "未知的文本编码 '{0}'",
    "the file is not {} text (byte 0x{} cannot be read); export it again as UTF-8 or GBK": (
        "文件不是 {0} 编码的文本（无法读取字节 0x{1}）；请重新导出为 UTF-8 或 GBK 编码"
    ),
    "the CSV cannot be read: {}": "无法读取这个 CSV 文件：{0}",
    "the file has no header row (profile {})": "文件中没有表头行（按格式 {0} 读取）",
    "the header has no column '{}' (profile {})": "表头中没有 '{0}' 列（按格式 {1} 读取）",
    "the file has a header but no rows": "文件只有表头，没有数据行",
    (
        "the file has more than {} statement lines; at most {} are imported at once (export a "
        "shorter period)"
    ): "文件中的流水超过 {0} 笔；一次最多导入 {1} 笔（请导出较短期间的对账单）",
    "the file holds no statement": "文件中没有对账单",
    (
        "{} does not add up: the opening balance {} and its {} lines ({}) make {}, but the "
        "closing balance is {}"
    ): "{0} 的余额对不上：期初余额 {1} 加上 {2} 笔流水（合计 {3}）应为 {4}，但期末余额是 {5}",
    "the {} '{}' is not a number": "{0} '{1}' 不是数字",
    "the {} {} is not a number": "{0} {1} 不是数字",
    "the {} {} is too large": "{0} {1} 太大",
    "the {} {} has more than two decimals (a fraction of a fen)": (
        "{0} {1} 的小数超过两位（不足一分）"
    ),
    "the {} '{}' has misplaced thousands separators": "{0} '{1}' 中的千位分隔符位置不对",
    "the {} '{}' is not a date in the form {}": "{0} '{1}' 不是 {2} 格式的日期",
    "the booking date is empty": "记账日期为空",
    "the amount is empty": "金额为空",
    "the balance is empty": "余额为空",
    "the direction '{}' is none of {}": "收支方向 '{0}' 不是以下标记之一：{1}",
    "the {} '{}' is negative; the debit and credit columns hold amounts without a sign": (
        "{0} '{1}' 是负数；借方列和贷方列的金额不带正负号"
    ),
    "the row has both a debit and a credit amount": "这一行借方和贷方都有金额，只能填其中一个",
    "the row has neither a debit nor a credit amount": "这一行借方和贷方都没有金额",
    "the balance {} does not follow from the row before ({} and this row's amount {} make {})": (
        "余额 {0} 与上一行接不上（上一行余额 {1} 加本行金额 {2} 应为 {3}）"
    ),
    # -- CSV profiles of banks and gate systems (TOML)
    "not valid TOML: {}": "不是有效的 TOML：{0}",
    "unknown setting '{}'": "未知的设置项 '{0}'",
    "'{}' must be a {}": "'{0}' 的类型须为 {1}",
    "'{}' must be a string or a list of strings": "'{0}' 须为字符串或字符串列表",
    "'{}' must be a list of strings": "'{0}' 须为字符串列表",
    "unknown field '{}' in [columns]": "[columns] 中有未知的字段 '{0}'",
    "only narrative may join several columns, not {}": "只有 narrative 可以合并多列，{0} 不可以",
    "[columns] must name the booking_date column": "[columns] 须指定 booking_date 列",
    "[columns] must name either amount, or both debit and credit": (
        "[columns] 须指定 amount 列，或者同时指定 debit 和 credit 列，二者只选其一"
    ),
    "a direction column goes with amount and a [direction] table of marks": (
        "direction 列须与 amount 列、以及列出收支标记的 [direction] 表一起使用"
    ),
    "[direction] has only credit and debit lists": "[direction] 中只能有 credit 和 debit 两个列表",
    "optional_columns names unmapped fields {}": (
        "optional_columns 中有未在 [columns] 中指定列的字段 {0}"
    ),
    "the date and amount columns cannot be optional": "日期列和金额列不能设为可选",
    "account_pattern must have exactly one group": "account_pattern 须恰好包含一个捕获组",
    "delimiter must be one character, skip_rows 0 or more": (
        "delimiter 须为一个字符，skip_rows 须为 0 或更大的整数"
    ),
    "unusual decimal or thousands separator": "小数分隔符或千位分隔符不是常用的字符",
    "the decimal and thousands separators must differ": "小数分隔符和千位分隔符不能相同",
    "'layout' must be per_day or per_session": "'layout' 须为 per_day 或 per_session",
    "[columns] of a {} profile are {}, not '{}'": (
        "layout 为 {0} 的格式中，[columns] 只能指定 {1}，不能指定 '{2}'"
    ),
    "columns.{} must be a header name": "columns.{0} 须填写表头中的列名",
    "[columns] must name {}": "[columns] 须指定以下字段的列：{0}",
    "optional_columns may hold only mapped {}: {}": (
        "optional_columns 只能列出 {0} 中已在 [columns] 中指定列的字段，不能列出：{1}"
    ),
    "date_formats and time_formats name at least one format": (
        "date_formats 和 time_formats 各须至少列出一种格式"
    ),
    'thousands_separator is "" or ","': 'thousands_separator 须为 "" 或 ","',
    "unknown encoding '{}'": "未知的编码 '{0}'",
    # -- gate exports: rows
    "the {} '{}' is negative; takings are zero or more": "{0} '{1}' 是负数；道闸收入须为零或正数",
    "the {} '{}' is not in the form {}": "{0} '{1}' 不符合格式 {2}",
    "the {} is empty": "{0} 为空",
    "the number of stays '{}' is not a whole number": "停车次数 '{0}' 不是整数",
    "the order number is empty": "订单号为空",
    "the order number is longer than {} characters": "订单号超过 {0} 个字符",
    "the stay leaves ({}) before it enters": "这次停车的出场时间（{0}）早于入场时间",
    "the row has {} cells, the header {} (an amount with a thousands separator must be quoted)": (
        "这一行有 {0} 列，而表头有 {1} 列（带千位分隔符的金额须加引号）"
    ),
    "the day {} is on line {} already": "{0} 这一天已在第 {1} 行出现过",
    "the order {} is on line {} already": "订单 {0} 已在第 {1} 行出现过",
    "the day {} has not come yet": "{0} 这一天还没有到",
    "the day {} is not over: its total is not final": (
        "{0} 这一天还没有结束：当天的合计还不是最终数"
    ),
    "the day {} was imported {} ({}); it cannot come {} as well": (
        "{0} 这一天已经导入过（{2}，导入方式：{1}），不能再以“{3}”的方式导入"
    ),
    "the day {} was imported with {} yuan ({}), this file says {}": (
        "{0} 这一天已从 {2} 导入，金额为 {1} 元；本文件中却是 {3} 元"
    ),
    "the order {} was imported with {} yuan on {}, this file says {} on {}": (
        "订单 {0} 已导入过，日期 {2}，金额 {1} 元；本文件中却是日期 {4}，金额 {3} 元"
    ),
    # -- voting: the published result's checks
    "two persons share a voter key": "有两个人的投票人代号相同",
    "a question id appears twice": "有表决事项的 id 出现了两次",
    "{}: every counted vote, and only those, needs a receipt": (
        "表决事项 {0}：每张计入的选票都须有回执，且只有计入的选票才有回执"
    ),
    "{}: receipt codes must be distinct and non-empty": "表决事项 {0}：回执码不能为空，也不能重复",
    "{}: no voter key for {}": "表决事项 {0}：{1} 没有投票人代号",
    # Sentences the parsers build in variables before they report them.
    # -- bank statements: MT940 (a field that cannot be read)
    "{} '{}' cannot be read": "{0} '{1}' 无法读取",
    "{} '{}' has an amount that is not a number": "{0} '{1}' 中的金额不是数字",
    "{} has an amount that is not a number": "{0} 中的金额不是数字",
    "{} '{}' cannot be read ({})": "无法读取{0} '{1}'（{2}）",
    "{} cannot be read ({})": "无法读取{0}（{1}）",
    "the field :{}:": "字段 :{0}:",
    # -- bank statements: camt.053, the schema check's messages
    "the amount '{}' in <{}> is not a number": "<{1}> 中的金额 '{0}' 不是数字",
    "the date '{}' in <{}> is not a date (YYYY-MM-DD)": (
        "<{1}> 中的日期 '{0}' 不是有效日期（应为 YYYY-MM-DD）"
    ),
    "'{}' in <{}> is not a date and time (YYYY-MM-DDThh:mm:ss)": (
        "<{1}> 中的 '{0}' 不是有效的日期时间（应为 YYYY-MM-DDThh:mm:ss）"
    ),
    "<{}> cannot hold '{}'": "<{0}> 中不能填写 '{1}'",
    "<{}> is missing {}": "<{0}> 中缺少 {1}",
    "<{}> is not expected here": "<{0}> 不应出现在这里",
    "<{}> is not expected here; expected {}": "<{0}> 不应出现在这里；此处应为 {1}",
    "{} cannot be '{}'; it must be one of {}": "{0} 的值不能是 '{1}'；须为以下之一：{2}",
    "the file does not follow its schema: {}": "文件不符合其 XML 架构（schema）：{0}",
    # -- bank statements: which file it is
    "the file is {} MiB; statements of at most {} MiB are accepted (export a shorter period)": (
        "文件大小为 {0} MB；对账单文件最大 {1} MB（请导出较短期间的对账单）"
    ),
    "there is no CSV profile '{}' (known: {})": "没有名为 '{0}' 的 CSV 格式（已有的格式：{1}）",
    "this is {}, not an ISO 20022 camt.053 bank statement": (
        "这是 {0}，而不是 ISO 20022 camt.053 格式的银行对账单"
    ),
    "a {} message": "{0} 报文",
    "XML in namespace '{}'": "命名空间为 '{0}' 的 XML",
    (
        "the file is not a camt.053 or MT940 statement, and its header matches no CSV profile "
        "(known: {}); choose the profile of the bank's layout, or add one"
    ): (
        "文件不是 camt.053 或 MT940 格式的对账单，其表头也不符合任何一种 CSV 格式"
        "（已有的格式：{0}）；请选择与该银行导出样式相符的 CSV 格式，或新增一种"
    ),
    (
        "the file is not a camt.053 or MT940 statement, and its header matches several CSV "
        "profiles ({}); choose one"
    ): (
        "文件不是 camt.053 或 MT940 格式的对账单，其表头同时符合多种 CSV 格式（{0}）；"
        "请选择其中一种"
    ),
    # -- bank statements: a statement whose lines do not add up
    "statement {}": "对账单 {0}",
    "{} of account {}": "{0}（账号 {1}）",
    # -- CSV profiles of banks and gate systems (TOML)
    "CSV profile {}: {}": "CSV 格式配置文件 {0} 有误：{1}",
    "takings profile {}: {}": "道闸导出格式配置文件 {0} 有误：{1}",
    "account_pattern is not a regular expression: {}": "account_pattern 不是有效的正则表达式：{0}",
    # -- gate exports: which file it is
    "the file is {} MiB; exports of at most {} MiB are accepted (export a shorter period)": (
        "文件大小为 {0} MB；道闸导出文件最大 {1} MB（请导出较短期间的数据）"
    ),
    "there is no takings profile '{}' (known: {})": (
        "没有名为 '{0}' 的道闸导出格式（已有的格式：{1}）"
    ),
    (
        "the file's header matches no takings profile (known: {}); choose the profile of the "
        "system's layout, or add one"
    ): (
        "文件的表头不符合任何一种道闸导出格式（已有的格式：{0}）；"
        "请选择与该系统导出样式相符的格式，或新增一种"
    ),
    "the file's header matches several takings profiles ({}); choose one": (
        "文件的表头同时符合多种道闸导出格式（{0}）；请选择其中一种"
    ),
    # -- identity: importing an estate's buildings, units and owners (CSV)
    "the file is not UTF-8; save it as 'CSV UTF-8' and upload again": (
        "文件不是 UTF-8 编码；请另存为“CSV UTF-8”格式后重新上传"
    ),
    "cannot read this line as CSV ({}); check its quotes": (
        "无法按 CSV 格式读取这一行（{0}）；请检查其中的引号"
    ),
    "unit {} {}": "房屋 {0} {1}",
    "the owner with ID {}": "证件号 {0}",
    "the owner with phone {}": "电话 {0}",
    "the person {}": "个人业主 {0}",
    "the organisation {}": "单位业主 {0}",
}
