"""Chinese wording of the ledger service (postings, vouchers, fees, disbursements, bank
statements, gate takings, contracts)'s refusals (see `xinyi_gateway.refusals`)."""

ZH: dict[str, str] = {
    "{} must be a UUID": "{0} 必须是 UUID",
    "name the account (at most 100 characters)": "请填写科目名称（最多 100 个字符）",
    "give either a remuneration ratio or a fixed monthly sum": (
        "请填写酬金比例或每月固定金额，二者只填其一"
    ),
    "name the income sources the ratio applies to: {}": "请列明酬金比例适用的收入来源，可选：{0}",
    "the estate has no contract terms yet": "本小区尚未设定信托合同的财务条款",
    "a batch holds at least one posting": "一批至少要包含一笔记账",
    "a batch holds at most {} postings; send the rest in another": (
        "一批最多包含 {0} 笔记账；其余的请另批提交"
    ),
    "say why the entry is reversed: owners read it": "请写明冲销这条记录的理由，业主会看到",
    "name the payee (at most 200 characters)": "请填写收款方（最多 200 个字符）",
    "say what the payment is for: owners read it": "请写明付款用途，业主会看到",
    "debited_on is in the future; record a debit the statement shows": (
        "debited_on（扣款日期）是将来的日期；请登记对账单上已经出现的扣款"
    ),
    "name who took the money, as the statement shows (at most 200)": (
        "请按对账单填写扣款方（最多 200 个字符）"
    ),
    "copy the statement's words for the debit: owners read them": (
        "请照录对账单上这笔扣款的摘要，业主会看到"
    ),
    "give the statement's reference for the debit": "请填写对账单上这笔扣款的流水号",
    "no such disbursement": "没有这笔付款申请",
    "confirm the approval with the code from your authenticator app": (
        "请输入身份验证器应用中的验证码，以确认批准"
    ),
    "say why the payment is rejected: the company and owners read it": (
        "请写明驳回这笔付款的理由，物业服务企业和业主会看到"
    ),
    "attach the bank's evidence: the payment voucher or statement reference": (
        "请提供银行的付款依据：银行回单或对账单流水号"
    ),
    "no such device key of yours; register the key first": (
        "找不到您名下的这把设备密钥；请先登记设备密钥"
    ),
    "give at least one opening balance": "请至少填写一项期初余额",
    "the estate's books are not open yet; try again shortly": "本小区的账簿尚未建立，请稍后再试",
    "the estate has an account {} already": "本小区已有科目 {0}",
    "no such entry": "没有这条记录",
    "this entry was reversed already": "这条记录已经冲销过，不能再次冲销",
    (
        "expense_code is one of the estate's expense accounts (5001-5008, 5090 and any added) or "
        "2101 (paying the company's accrued remuneration)"
    ): (
        "expense_code 须为本小区的支出科目（5001-5008、5090 及另行添加的支出科目），或 "
        "2101（应付酬金，用于支付物业服务企业已计提的酬金）"
    ),
    "no budget line {} in this year's budget": "今年的预算中没有预算行 {0}",
    "expense_code is one of the estate's expense accounts": "expense_code 须为本小区的支出科目",
    "the disbursement is {}; only a requested one can be approved": (
        "这笔付款申请处于“{0}”状态；只有待审批的申请才能批准"
    ),
    "the person who requested a payment cannot approve it": "申请付款的人不能批准自己的申请",
    "you approved this disbursement already": "您已经批准过这笔付款，无需再次批准",
    "only a requested or approved, unpaid disbursement can be rejected": (
        "只有待审批、或已批准但尚未付款的申请才能驳回"
    ),
    (
        "the bank took this money already: the approving body ratifies or disputes it; it cannot "
        "be cancelled"
    ): "这笔钱已被银行扣走，不能撤回；应由业委会（或自治小组）追认或提出异议",
    "a disbursement can be cancelled only until it is paid": "付款申请只能在付款之前撤回",
    "the bank paid this debit itself; it posts when the approving body ratifies it": (
        "这笔是银行自行扣款，无需登记付款；业委会（或自治小组）追认后即入账"
    ),
    "only an approved disbursement is paid; it needs its {} approval(s) first": (
        "只有已批准的付款申请才能登记付款；这笔申请须先获得 {0} 人批准"
    ),
    "{} is not closed": "{0} 尚未结账",
    "period heads are signed by the company's manager and co-signed by the approving body": (
        "月度账头由物业服务企业的项目经理签署，并由业委会（或自治小组）会签"
    ),
    "signature must be base64url": "signature 须为 base64url 编码",
    "the signature does not verify with that key over this head": (
        "用这把密钥核验这个账头的签名没有通过"
    ),
    "the head is signed by the {} already": "这个账头已有{0}一方的签名",
    "the company signs the head first; then the committee co-signs": (
        "须由物业服务企业先签署账头，业委会才能会签"
    ),
    "opening balances are the first entry of an estate's books; this estate has entries already": (
        "期初余额须是小区账簿的第一笔记录；本小区的账簿中已有记录"
    ),
    "no budget for {}": "没有 {0} 年的预算",
    "{} must name at least one": "{0} 至少要列出一项",
    "{}: at most {} in one match": "{0}：一次匹配最多 {1} 项",
    "{} names one twice": "{0} 中有重复的项",
    "account is fund (the common fund's) or maintenance": (
        "account 须为 fund（共有基金账户）或 maintenance（维修资金账户）"
    ),
    "a statement file is at most {} MiB": "对账单文件最大 {0} MB",
    "nothing was imported: the fund's accounts are in CNY, the file has {} lines": (
        "未导入任何内容：基金账户以人民币（CNY）计价，而文件中有 {0} 币种的流水"
    ),
    "no such statement line": "没有这笔对账单流水",
    "say why the match was wrong (at most 2,000 characters)": (
        "请写明这次匹配错在哪里（最多 2000 个字符）"
    ),
    "explain the line in words owners read (at most 2,000)": (
        "请用业主能看懂的话说明这笔流水（最多 2000 个字符）"
    ),
    "number is the account number as the bank writes it: 6 to 34 letters and digits": (
        "number 填银行账号，与银行的写法一致：6 至 34 位字母和数字"
    ),
    "name the bank and the account's holder (at most 200 each)": (
        "请填写开户银行和账户名（各最多 200 个字符）"
    ),
    "{} holds an id that is not valid": "{0} 中有无效的 id",
    (
        "nothing was imported: the file holds a statement of account {}, but the estate's {} "
        "account is registered as {} ({})"
    ): "未导入任何内容：文件是账号 {0} 的对账单，但本小区的 {1} 账户登记的是 {3} 的账号 {2}",
    "nothing was imported: {}": "未导入任何内容：{0}",
    "account is fund or maintenance": "account 须为 fund 或 maintenance",
    "state is open, matched or explained": (
        "state 须为 open（待核对）、matched（已对上）或 explained（已说明）"
    ),
    "line_id is not a valid id": "line_id 不是有效的 id",
    "the line of {} is {} already": "{0} 的这笔流水已处于“{1}”状态",
    "lines of one account only: the fund's or the maintenance": (
        "所选流水须属于同一账户：共有基金账户或维修资金账户"
    ),
    (
        "entry {} does not fit: an entry must move this bank account, be booked from {} days "
        "before the lines to {} after, and not be tied to another line"
    ): (
        "记录 {0} 对不上：所选记录须涉及这个银行账户，入账日期在流水日期之前 {1} 天至之后 {2} "
        "天以内，且没有与其他流水对上"
    ),
    (
        "the lines come to {} yuan and the entries to {}: a match must be the same money on both "
        "sides"
    ): "所选流水合计 {0} 元，所选记录合计 {1} 元：两边金额相等才能匹配",
    "the line is {}, not matched": "这笔流水处于“{0}”状态，并未对上记录",
    "{} is closed and its head signed over these lines; correct it in an open month instead": (
        "{0} 已结账，签署的账头已包括这些流水；请改在尚未结账的月份中更正"
    ),
    "the line is tied to its entry; nothing to explain": "这笔流水已对上记录，无需说明",
    (
        "the owners' assembly has not approved maintenance_use:{}; the maintenance fund is used "
        "only after such a decision is final"
    ): "业主大会尚未通过 maintenance_use:{0}；维修资金须在此类决定生效后才能使用",
    "year must be a calendar year like 2026": "year 须为公历年份，例如 2026",
    "a budget has at least one line": "预算至少要有一行",
    "line {} needs a name": "第 {0} 行需要填写名称",
    "line {}: expense_code is an expense account (5001-5008)": (
        "第 {0} 行：expense_code 须为支出科目（5001-5008）"
    ),
    "line {}: the amount is in fen, zero or more": "第 {0} 行：金额以分为单位，须为零或正数",
    "line ids must be unique and short: {}": "各行的 id 不能重复，且不超过 64 个字符：{0}",
    "the {} budget was approved by the owners' assembly; changing it needs a new decision": (
        "{0} 年度预算已经业主大会通过；如需修改，须经业主大会重新决定"
    ),
    (
        "an account code has four digits; the first says its type: 1 asset, 2 liability, 3 equity, "
        "4 income, 5 expense"
    ): "科目代码为四位数字，首位表示类别：1 资产，2 负债，3 基金权益，4 收入，5 支出",
    "a period is a month written YYYY-MM, e.g. 2026-01": (
        "会计期间为一个月，格式为 YYYY-MM，例如 2026-01"
    ),
    "a period's month is 01 to 12": "会计期间的月份须在 01 至 12 之间",
    "a period's year is 1900 to 2999": "会计期间的年份须在 1900 至 2999 之间",
    "{} must be more than zero (in fen: 100 fen = 1 yuan)": (
        "{0} 必须大于零（以分为单位：100 分 = 1 元）"
    ),
    "{} is implausibly large; amounts are in fen": "{0} 大得不合常理；金额以分为单位",
    "an entry has at least two lines": "一条记录至少要有两条分录",
    "an entry line cannot be zero": "分录金额不能为零",
    "the entry does not balance: debits must equal credits": (
        "记录借贷不平衡：借方合计须等于贷方合计"
    ),
    "the remuneration ratio is between 0 and 1": "酬金比例须在 0 和 1 之间",
    "the ratio is a fraction like 1/10 or a decimal like 0.1": (
        "比例请写成分数（如 1/10）或小数（如 0.1）"
    ),
    "the rate {} is not a number of fen per m² and month, like 250, 212.5 or 425/2": (
        "收费标准 {0} 无效：请按“分/m²/月”填写数字，例如 250、212.5 或 425/2"
    ),
    "a rate is more than 0 and at most 100000 fen (1,000 yuan) per m² and month": (
        "收费标准须大于 0，且不超过每月每平方米 100000 分（1,000 元）"
    ),
    "give the rate with fewer decimals": "收费标准的小数位数过多，请减少小数位",
    "this entry is not one unit's payment": "这条记录不是单独一户房屋的缴费",
    (
        "the unit's account no longer holds this payment (its fees were corrected since); correct "
        "those first"
    ): "该房屋的账上已没有这笔缴费（其费用此后已被更正）；请先更正那些记录",
    "this entry holds no fees that stand; nothing to take back": (
        "这条记录中已没有有效的计费，无可冲回"
    ),
    "give at least one rate: a unit type, fen per m², and a month": (
        "请至少填写一项收费标准：房屋类型、每月每平方米多少分，以及起始月份"
    ),
    "{} has not begun; a month's fees are assessed from its first day": (
        "{0} 尚未开始；每月物业费自该月第一天起才能计收"
    ),
    "received_on is in the future; record a payment once received": (
        "received_on（收款日期）是将来的日期；请在收到款项后再登记"
    ),
    "unit_type is one of: {}": "unit_type 须为以下之一：{0}",
    "two rates for {} from {}; give one": "{0} 类房屋自 {1} 起的收费标准填了两个；请只填一个",
    (
        "the ledger knows no units of this estate yet; import the units and owners first (they "
        "arrive from identity within moments)"
    ): "账簿中还没有本小区的房屋；请先导入房屋和业主（导入后片刻即会同步到账簿）",
    "no fee rate applies to {} for {}; set the rates first": (
        "{0} 没有适用于 {1} 的收费标准；请先设定收费标准"
    ),
    "no such unit in this estate's ledger": "本小区的账簿中没有这套房屋",
    "{} units are assessed for {} already; a new rate takes effect from a later month": (
        "{0} 类房屋已计收 {1} 的物业费；新的收费标准只能从更晚的月份起生效"
    ),
    "the estate is not managed together with others": "本小区没有与其他小区合并管理",
    "say what the shared cost is for (at most 1,500 characters)": (
        "请写明这笔共同费用的用途（最多 1500 个字符）"
    ),
    (
        "a shared cost is requested by the company serving every estate of the group; you may not "
        "request payments for {} of them"
    ): "共同费用须由为合并管理的每个小区提供服务的物业服务企业申请；其中 {0} 个小区您无权申请付款",
    "an estate of the group has no units with area yet: import its units first": (
        "合并管理的小区中，有小区还没有登记了面积的房屋：请先导入该小区的房屋"
    ),
    "the amount is too small to give every estate a share": "金额太小，不够分摊到每个小区",
    "expense_code is an expense account of every estate": "expense_code 须是每个小区都有的支出科目",
    "the ledger has not opened this estate's books yet; try again shortly": (
        "账簿尚未为本小区建立，请稍后再试"
    ),
    "no such account in this estate: {}": "本小区没有以下科目：{0}",
    "{} has not ended yet; a month closes after its last day": (
        "{0} 还没有结束；月份须在最后一天过后才能结账"
    ),
    "{} is closed already": "{0} 已经结账",
    "close {} first: months close in order": "请先为 {0} 结账：月份须按顺序结账",
    "an approved disbursement of this month or before is not paid yet; record the payment first": (
        "本月或更早有已批准的付款尚未付出；请先登记付款"
    ),
    (
        "{} line(s) of the bank's statements for {} are open: tie each to its entry or explain it, "
        "so the month reconciles with the bank"
    ): (
        "{1} 的银行对账单中有 {0} 笔流水尚未核对：请把每一笔对上相应的记录或写明说明，"
        "使该月账目与银行相符"
    ),
    "{} is still open: an entry's proof comes with its month's signed head": (
        "{0} 尚未结账：记录的证明要在该月账头签署后才能提供"
    ),
    "this month is closed; post into the next one": "本月已结账；请记入下一个月",
    "name the raise the assembly decided (raise_id, at most 64 chars)": (
        "请填写业主大会决定的筹集事项（raise_id，最多 64 个字符）"
    ),
    "fen_per_m2 is the amount per m² in fen, more than zero": (
        "fen_per_m2 是每平方米的金额，以分为单位，须大于零"
    ),
    (
        "the owners' assembly has not approved maintenance_raise:{}; raising the maintenance fund "
        "needs 3/4 of participating area and headcount (art. 278 item 6)"
    ): (
        "业主大会尚未通过 maintenance_raise:{0}；筹集维修资金须经参与表决专有部分面积四分之三以上且"
        "参与表决人数四分之三以上的业主同意（《民法典》第二百七十八条第一款第六项）"
    ),
    "maintenance_raise:{} has been raised already": "maintenance_raise:{0} 已经筹集过了",
    "the estate has no units with an area yet; import them first": (
        "本小区还没有登记了面积的房屋；请先导入房屋"
    ),
    "the unit owes {} yuan to the maintenance fund; a payment cannot exceed it": (
        "该房屋欠缴维修资金 {0} 元，缴款金额不能超过此数"
    ),
    "source is one of: {}": "source 须为以下之一：{0}",
    "the items add up to {} yuan, not {}": "明细合计 {0} 元，与金额 {1} 元不一致",
    "a voucher is named by its sha256: 64 lowercase hex digits": (
        "凭证以其 sha256 标识：64 位小写十六进制数字"
    ),
    "an idempotency key has at most {} characters": "幂等键（idempotency key）最多 {0} 个字符",
    (
        "this idempotency key was already used for a different request; use a new key for a new "
        "request"
    ): "这个幂等键已用于另一个不同的请求；新的请求请使用新的幂等键",
    "the voucher store cannot be reached; try again shortly": "暂时无法连接凭证存储，请稍后再试",
    "{} is a month written YYYY-MM, e.g. 2026-01": "{0} 须为月份，格式为 YYYY-MM，例如 2026-01",
    "source is what system took the money: {} (gate exports)": (
        "source 填收款的系统：{0}（道闸导出数据）"
    ),
    "a takings export is at most {} MiB": "道闸导出文件最大 {0} MB",
    "counterparty is the paying company's name (at most 200)": (
        "counterparty 填付款单位名称（最多 200 个字符）"
    ),
    "description is at most 500 characters": "description 最多 500 个字符",
    "last_month is first_month or later (empty: open-ended)": (
        "last_month 不能早于 first_month（留空表示未约定截止）"
    ),
    "from_month is to_month or earlier, and the two span at most {} months, both counted": (
        "from_month 不能晚于 to_month，且两者（含首尾两个月）最多跨 {0} 个月"
    ),
    "explain the month in words owners read (at most 2,000)": (
        "请用业主能看懂的话说明这个月的情况（最多 2000 个字符）"
    ),
    "{} is not over: nothing is flagged before it ends": (
        "{0} 还没有结束：月份结束前不会标出任何问题"
    ),
    "the {} income of {} is not flagged; nothing to explain": "{1} 的 {0} 收入没有被标出，无需说明",
    "no such income contract": "没有这份收入合同",
    "contract_id is not a valid id": "contract_id 不是有效的 id",
    "{} is empty": "{0} 是空的",
    "{} is larger than the limit of {} bytes (10 MiB)": "{0} 超过了 {1} 字节（10 MB）的上限",
    "{} must be one of {}, not {}": "{0} 的类型须为 {1} 之一，而不是 {2}",
    "{} is declared {} but its bytes say it is {}; send it with its true type": (
        "{0} 声明的类型是 {1}，但文件内容显示它是 {2}；请按文件的实际类型上传"
    ),
    "give the payroll's totals by role, in fen": "请按岗位填写工资表合计，以分为单位",
    "at most {} roles in payroll totals": "工资表合计最多 {0} 个岗位",
    "sha256 must be 64 lowercase hex digits": "sha256 须为 64 位小写十六进制数字",
    "this estate has no voucher {}": "本小区没有凭证 {0}",
    "this file was uploaded already as a {} voucher on {}; a voucher keeps its kind": (
        "这个文件已于 {1} 作为 {0} 类凭证上传；凭证的种类不能更改"
    ),
    "each payroll role is named in 1 to 50 characters": "每个岗位名称须为 1 至 50 个字符",
    "the total for {} must be between 0 and {} fen": "“{0}”的合计须在 0 至 {1} 分之间",
    "kind is one of: {}": "kind 须为以下之一：{0}",
    "the redacted copy is the same file as the original; remove the personal data first": (
        "去除个人信息的副本与原件是同一个文件；请先去除其中的个人信息"
    ),
    "only payroll vouchers carry totals by role": "只有工资表凭证才能填写各岗位合计",
    "only payroll vouchers carry totals by role; this one is a {}": (
        "只有工资表凭证才能填写各岗位合计；这份凭证的种类是 {0}"
    ),
    (
        "payroll vouchers are shown to owners as totals by role, not as files; the totals are in "
        "the voucher's payroll_totals"
    ): "工资表凭证向业主公示的是各岗位合计，不提供文件；合计见凭证的 payroll_totals",
}
