"""Chinese wording of the file parsers' sentences built in variables before they are reported,
and of the English words they put into sentences (see `xinyi_gateway.refusals`)."""

ZH: dict[str, str] = {
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

VALUES: dict[str, str] = {
    # -- MT940 fields, and the forms a field must have
    "the transaction reference (:20:)": "交易参考号（:20:）",
    "the related reference (:21:)": "相关参考号（:21:）",
    "the account (:25:)": "账号（:25:）",
    "the statement number (:28C:)": "对账单编号（:28C:）",
    "the opening balance": "期初余额",
    "the opening balance (:60F:)": "期初余额（:60F:）",
    "the intermediate opening balance (:60M:)": "中间期初余额（:60M:）",
    "the statement line (:61:)": "对账单流水（:61:）",
    "the closing balance": "期末余额",
    "the closing balance (:62F:)": "期末余额（:62F:）",
    "the intermediate closing balance (:62M:)": "中间期末余额（:62M:）",
    "the available balance (:64:)": "可用余额（:64:）",
    "the forward available balance (:65:)": "远期可用余额（:65:）",
    "a field": "某个字段",
    "C or D, the date as YYMMDD, the currency and the amount, e.g. C240301CNY12345,67": (
        "C（贷）或 D（借）、YYMMDD 格式的日期、币种和金额（须用逗号作小数点，不能用小数点 .），"
        "如 C240301CNY12345,67"
    ),
    (
        "the value date YYMMDD, an optional entry date MMDD, C or D, the amount with a decimal "
        "comma, the type and the references, e.g. 2403050305C1234,50NTRFNONREF//BANKREF"
    ): (
        "起息日 YYMMDD、可选的记账日 MMDD、C（贷）或 D（借）、金额（须用逗号作小数点，如 1234,50，"
        "不能写成 1234.50）、交易类型和参考号，如 2403050305C1234,50NTRFNONREF//BANKREF"
    ),
    # -- a statement, a text file's encodings
    "the statement": "对账单",
    "UTF-8 or GBK/GB18030": "UTF-8 或 GBK/GB18030",
    # -- the field a statement's or a gate export's cell holds ("the {} '{}' is not a number")
    "booking date": "记账日期",
    "value date": "起息日",
    "amount": "金额",
    "balance": "余额",
    "debit": "借方金额",
    "credit": "贷方金额",
    "day": "日期",
    "exit time": "出场时间",
    "entry time": "入场时间",
    # -- how a day's gate takings came in
    "as a daily total": "按日汇总",
    "stay by stay": "按每次停车",
    # -- estate imports: the ID number's hint, owner kinds and unit types
    "; format the column as text so the spreadsheet keeps all digits": (
        "；请把这一列设置为文本格式，以免表格软件丢失数字（如显示为 1.1E+17）"
    ),
    "person": "个人",
    "organisation": "单位",
    "developer": "开发企业",
    "residential": "住宅",
    "commercial": "商业",
    "other": "其他",
}
