"""Chinese wording of the refusals of the identity service (accounts, sign-in, roles, estates,
units, owners, onboarding imports); see `xinyi_gateway.refusals`."""

ZH: dict[str, str] = {
    # -- sign-in, second factor, device keys
    "the code from your authenticator app is wrong or was already used": (
        "身份验证器应用中的验证码不正确或已经用过"
    ),
    "too many failed sign-ins; try again in {} minute(s)": "登录失败次数过多，请在 {0} 分钟后再试",
    "the refresh token is not valid any more; sign in again": "刷新令牌已失效，请重新登录",
    "your account no longer exists": "您的账号已不存在",
    "a second factor is already enrolled for this account": "此账号已开启两步验证",
    "start the enrolment first, then enter the code it shows": (
        "请先点击“开启两步验证”，再输入身份验证器应用显示的验证码"
    ),
    "that code does not match; check the time on your phone and try the new code": (
        "验证码不正确；请检查手机时间是否准确，然后输入应用显示的新验证码"
    ),
    "this needs your second factor: enrol an authenticator app in your profile": (
        "此操作需要两步验证：请先在“我的账号”中开启两步验证，绑定身份验证器应用"
    ),
    "no such key among yours": "您登记的设备密钥中没有这把密钥",
    "enter the 6-digit code from your authenticator app": "请输入身份验证器应用中的 6 位验证码",
    "this key cannot be registered again; make a new one": (
        "这把密钥不能再次登记，请生成一把新的密钥"
    ),
    # -- districts, streets, communities, companies, users, estates, roles
    "your roles do not allow granting the role {}": "您的角色无权授予角色 {0}",
    "no such estate": "找不到该小区",
    "the address has at most 500 characters": "地址最多 500 个字符",
    "page_size must be between 1 and 500": "page_size（每页条数）须在 1 到 500 之间",
    "ends_on must be after starts_on": "ends_on（结束日期）须晚于 starts_on（开始日期）",
    "kind is committee, self_governance_group or property_management_committee": (
        "kind 须为 committee（业主委员会）、self_governance_group（自治小组）或 "
        "property_management_committee（物业管理委员会）"
    ),
    "a management group joins at least two estates": "合并管理组至少要包括两个小区",
    "the role {} is granted per {}": "角色 {0} 按 {1} 范围授予",
    "the role {} is granted per {}: give {}_id and nothing else": (
        "角色 {0} 按 {1} 范围授予：请只提供 {2}_id，不要提供其他范围"
    ),
    "a district named {} exists already": "名为“{0}”的区已经存在",
    "no such district": "找不到该区",
    "the district has a street named {} already": "该区已有名为“{0}”的街道",
    "no such street": "找不到该街道",
    "the street has a community named {} already": "该街道已有名为“{0}”的社区",
    "a company with this credit code is on the platform already": (
        "使用该统一社会信用代码的企业已在平台登记"
    ),
    "a user with this username or phone number exists already": "已有用户使用该用户名或手机号",
    "no such community": "找不到该社区",
    "no such company": "找不到该物业服务企业",
    "the estate is already served from {} until {}; one company serves an estate at a time": (
        "该小区自 {0} 至 {1} 已有物业服务企业；同一时间一个小区只能由一家物业服务企业服务"
    ),
    "the estate is already served from {}; one company serves an estate at a time": (
        "该小区自 {0} 起已有物业服务企业；同一时间一个小区只能由一家物业服务企业服务"
    ),
    "unknown role {}; roles are: {}": "未知的角色 {0}；可用的角色有：{1}",
    "no such user": "找不到该用户",
    "no such role grant": "找不到该角色授权",
    "no such estate: {}": "找不到小区：{0}",
    "{} is in a management group already": "小区“{0}”已属于一个合并管理组",
    # -- units and owners (roster, imports)
    "page_token is not one this service issued": "page_token（翻页令牌）无效：不是本服务签发的",
    "the file is larger than {} MB": "文件超过 {0} MB",
    "the file is empty": "文件是空的",
    "page_size must be between 1 and 1000": "page_size（每页条数）须在 1 到 1000 之间",
    "the estate is not registered in identity": "该小区尚未在身份服务中登记",
    "a transfer cannot take effect before the current owners' start; give a later effective date": (
        "产权转移的生效日期不能早于现业主的起始日期，请填写更晚的生效日期（effective_on）"
    ),
    # -- checks of names, accounts and keys
    "{} must not be empty": "{0} 不能为空",
    "{} has at most {} characters": "{0} 最多 {1} 个字符",
    (
        "a username has 3 to 50 characters: lowercase letters, digits, '_', '.' or '-', starting "
        "with a letter or digit"
    ): "用户名为 3 到 50 个字符，只能使用小写字母、数字、“_”、“.”或“-”，并以字母或数字开头",
    "a phone number is a mainland mobile number of 11 digits": "手机号须为 11 位中国大陆手机号码",
    "a password has at least {} characters": "密码至少 {0} 个字符",
    "a password has at most 200 characters": "密码最多 200 个字符",
    "a unified social credit code (统一社会信用代码) has 18 letters and digits": (
        "统一社会信用代码由 18 位字母和数字组成"
    ),
    "public_jwk must be a JSON object": "public_jwk 须是 JSON 对象",
    "that is a private key: send only the public key; keep the private one": (
        "这是私钥：请只发送公钥，私钥留在您的设备上"
    ),
    "the public key is missing its coordinates": "公钥缺少坐标",
    "{} must be a UUID, got {}": "{0} 须是 UUID，收到的是 {1}",
    "{} must be a date like 2026-01-31": "{0} 须是形如 2026-01-31 的日期",
    "public_jwk must be a JSON Web Key": "public_jwk 须是 JSON Web Key（JWK）",
    "a device key is an EC P-256 or Ed25519 public key": "设备密钥须是 EC P-256 或 Ed25519 公钥",
    "the public key's coordinates do not form a valid key": "公钥的坐标不构成有效的密钥",
    # -- onboarding: case, situation, baseline
    "name the working group: 1 to 30 members": "请填写工作组成员：1 到 30 人",
    "arrangement is one of {}": "arrangement（目前的管理方式）须为以下之一：{0}",
    "accepting households are between 0 and the households surveyed": (
        "接受信托制的户数须在 0 到受访户数之间"
    ),
    "open_disputes is a count (or -1: not known)": (
        "open_disputes（未解决纠纷）须为件数（不清楚时填 -1）"
    ),
    "{} is per mille, 0 to 1000 (or -1: not known)": (
        "{0} 以千分比计，取 0 到 1000（不清楚时填 -1）"
    ),
    # -- onboarding: trust contract terms
    "a fee rate is above 0 and at most 1,000 yuan per m² and month": (
        "物业费标准须大于 0，且不超过 1,000 元/㎡·月"
    ),
    "starts_on is today or later: a contract does not start in the past": (
        "starts_on（开始日期）不能早于今天：合同不能从过去的日期开始"
    ),
    "ends_on is more than a month after starts_on": (
        "ends_on（结束日期）须在 starts_on（开始日期）一个多月之后"
    ),
    "the contract sets the fee rates (fen per m² and month by unit type)": (
        "合同须规定物业费标准（按房屋类型，以分/㎡·月计）"
    ),
    "remuneration is a ratio of income or a fixed monthly sum: one": (
        "酬金按收入比例或每月固定金额计，二者只填一项"
    ),
    "remuneration_sources are some of {}": (
        "remuneration_sources（计酬的收入）须从以下各项中选择一项或多项：{0}"
    ),
    "dismissal_notice_days is 60 to 365 (Civil Code art. 946)": (
        "dismissal_notice_days（业主解聘通知期）为 60 到 365 日（民法典第九百四十六条）"
    ),
    "non_renewal_notice_days is 90 to 365 (Civil Code art. 947)": (
        "non_renewal_notice_days（企业不续约通知期）为 90 到 365 日（民法典第九百四十七条）"
    ),
    "bank_account_number is the dual-control account's number": (
        "bank_account_number 须为双密码账户的账号（6 到 34 位数字或字母）"
    ),
    "approval thresholds end with one without an upper bound (0)": (
        "支出审批档次的最后一档须不设上限（up_to_fen 填 0）"
    ),
    "approval thresholds rise: each bound above the one before": (
        "支出审批档次的上限须逐档递增：每一档都高于前一档"
    ),
    "each threshold needs 1 to 9 approvals, never fewer than below it": (
        "每一档需要 1 到 9 人批准，且不少于金额更低的一档"
    ),
    "the contract names its supervisors (1 to 20)": "合同须列明监察人（1 到 20 人）",
    "a fee rate is fen per m² and month, e.g. 250 or 2.5: {}": (
        "物业费标准须是以分/㎡·月计的数值，如 250 或 2.5，收到的是 {0}"
    ),
    "a fee rate's unit_type is one of {}": "物业费标准的 unit_type（房屋类型）须为以下之一：{0}",
    "the fee rate of {} is given twice": "{0} 类房屋的物业费标准填写了两次",
    "remuneration_ratio is above 0 and below 1/2": (
        "remuneration_ratio（酬金比例）须大于 0 且小于 1/2"
    ),
    "remuneration_fixed_monthly_fen is above 0 and at most 1,000,000 yuan": (
        "remuneration_fixed_monthly_fen（每月固定酬金，以分计）须大于 0，且不超过 1,000,000 元"
    ),
    "signature is base64url": "signature 须为 base64url 编码",
    "remuneration_ratio is a fraction such as 1/10": (
        "remuneration_ratio（酬金比例）须为分数，如 1/10"
    ),
    # -- onboarding: cases, contracts, signatures
    "the estate has no onboarding case": "这个小区还没有开启进驻",
    "no such contract": "找不到该合同",
    (
        "the estate is served by another company from {}; its service ends by a dismissal or "
        "notice and a handover first"
    ): (
        "该小区自 {0} 起由另一家物业服务企业服务；须先经业主大会解聘或该企业通知不再续约，"
        "并完成移交，其服务才告结束"
    ),
    "the stages of estates are for their community's supervisors and the operator": (
        "各小区的进驻阶段只供所属社区的监察人和平台运营方查看"
    ),
    "you oversee other communities": "您监察的是其他社区，不能查看这个社区",
    "the estate has its onboarding case already": "这个小区已经开启进驻",
    "open the estate's onboarding case first": "请先为这个小区开启进驻",
    (
        "the assembly has not chosen the company yet: a tender decided by ballot (Civil Code art. "
        "278 item 4) comes before the contract"
    ): (
        "业主大会尚未选定物业服务企业：须先招募，"
        "并由业主大会表决决定（民法典第二百七十八条第一款第四项），再起草合同"
    ),
    "the assembly has not adopted the trust model yet (a ballot on trust_model:{})": (
        "业主大会尚未决定采用信托制（须先就 trust_model:{0} 进行表决）"
    ),
    (
        "a contract was drafted on this decision already; a new company needs a new tender and "
        "decision"
    ): "依据这项决定已经起草过合同；更换物业服务企业须重新招募，并由业主大会重新表决决定",
    "the contract is signed already": "合同已经签署",
    "the {} has signed already": "{0}已经签署",
    "sign with a key registered on your own device (and not revoked)": (
        "请使用在您本人设备上登记且未撤销的设备密钥签署"
    ),
    (
        "the signature does not verify: it must be over the contract's payload_json, exactly as "
        "given"
    ): "签名验证未通过：须对合同的 payload_json 签名，且内容与下发的完全一致",
    "the contract is signed by the chosen company's manager and by the approving body": (
        "合同只能由中选物业服务企业的项目经理和审批机构签署"
    ),
    # -- onboarding: leaving a contract, handovers
    "the company's own manager gives its notice": "不续约通知须由该物业服务企业自己的项目经理发出",
    "only a contract in force can be left": "只有履行中的合同才能通知不再续约",
    "the contract is ending already: see its handover": "合同已在终止过程中，请查看其移交",
    (
        "notice not to renew is given at least {} days before the term ends (by {}, Civil Code "
        "art. 947); the contract continues"
    ): (
        "不再续约须在期满前至少 {0} 日通知（最迟 {1}，民法典第九百四十七条）；现已逾期，"
        "合同继续履行"
    ),
    "no such handover": "找不到该移交",
    "name the checklist items to update": "请列出要更新的移交清单事项",
    "handed_over_on is the day it took place: not after today": (
        "handed_over_on（移交日期）是实际移交的日期，不能晚于今天"
    ),
    "the handover is complete": "移交已经完成",
    "the handover is complete already": "移交已经完成",
    "the notice period runs until {}: the handover is on or after that day": (
        "通知期至 {0}：移交日期须在当天或之后"
    ),
    "the checklist is not done: {}; tick each item once handed over": (
        "移交清单尚未完成：{0}；请在每项移交后逐项勾选"
    ),
    "the checklist items are {}": "移交清单的事项为：{0}",
    "an item's state is one of {}": "事项的状态须为以下之一：{0}",
}
