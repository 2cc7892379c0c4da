"""Chinese wording of the voting service's refusals (see `xinyi_gateway.refusals`): ballots, votes,
meetings, tenders, suggestions, surveys, petitions."""

ZH: dict[str, str] = {
    # -- ballots: questions and choices
    "a ballot puts at least one question": "一次表决至少要有一个议题",
    "a ballot puts at most {} questions": "一次表决最多 {0} 个议题",
    "two questions share an id": "有两个议题的 id 相同",
    "answer every question; missing: {}": "请逐项作答；尚未回答：{0}",
    "the ballot is {}; votes are taken only while it is open": (
        "表决处于“{0}”状态；只有在投票期间才能投票"
    ),
    "voting closed at {}; no vote is taken after that": "投票已于 {0} 截止，不再接受投票",
    "{} is not a valid id": "{0} 不是有效的 id",
    "question {}: say what is decided (1-4000 characters)": (
        "议题 {0}：请写明要决定的内容（1 到 4000 个字符）"
    ),
    (
        "question {}: matter_class names its item of Civil Code art. 278 (1-9), which fixes its "
        "thresholds"
    ): (
        "议题 {0}：matter_class 须为该议题所属的《民法典》第二百七十八条的项号（1 到 9），"
        "表决的参与和通过要求由此确定"
    ),
    "question {}: kind is yes_no or candidates": "议题 {0}：kind 须为 yes_no 或 candidates",
    "question {}: the subject needs the id of what is decided": "议题 {0}：请填写所决定对象的编号",
    "no question {} on this ballot": "这次表决没有议题 {0}",
    "question {} is answered twice": "议题 {0} 回答了两次",
    "no such ballot": "找不到这次表决",
    "give the ballot a title (at most 200 characters)": "请填写表决标题（最多 200 个字符）",
    "the description has at most 20,000 characters": "说明最多 20000 个字符",
    "the estate has no units on its roll; import them first": (
        "这个小区的业主名册上还没有房屋，请先导入房屋"
    ),
    "say when voting opens and when it closes": "请填写投票开始时间和投票截止时间",
    "objection_days is between 1 and 60 (default 7)": (
        "objection_days（结果异议期）须为 1 到 60 天（默认 7 天）"
    ),
    (
        "voting opens at least 15 days after the announcement (物业管理条例 art. 14); the earliest "
        "now is {}"
    ): "投票开始时间须在公告后至少 15 天（《物业管理条例》第十四条）；目前最早可以定在 {0}",
    "voting closes after it opens": "投票截止时间须晚于投票开始时间",
    "voting stays open at most 90 days": "投票期最长 90 天",
    "say why the ballot is cancelled: owners read it": (
        "请填写取消表决的原因，该原因会向全体业主公开"
    ),
    "the operator administers the platform; it never votes": "平台运营方负责管理平台，不参与投票",
    "a file name has at most 255 characters": "文件名最多 255 个字符",
    "the attachment is empty": "材料文件是空的",
    "an attachment is at most {} MiB": "每份材料不能超过 {0} MB",
    "an attachment is a PDF, JPEG or PNG file": "材料须为 PDF、JPEG 或 PNG 文件",
    "name your proxy by their username on the platform": "请填写代理人在平台上的用户名",
    "you vote for yourself without a proxy": "不能委托自己：您本人直接投票即可",
    "the scan is empty": "扫描件是空文件",
    "a scan is at most {} MiB": "扫描件不能超过 {0} MB",
    "a scan is a JPEG, PNG or PDF file": "扫描件须为 JPEG、PNG 或 PDF 文件",
    "only owners of the estate's units sign a petition": "只有本小区房屋的业主可以联署",
    "give the petition a title (at most 200 characters)": "请填写联署标题（最多 200 个字符）",
    "say what the assembly should decide, and why": "请写明要求业主大会决定的事项和理由",
    "no such petition": "找不到这份联署",
    "question {}: name 1 to {} candidates": "议题 {0}：候选人须为 1 到 {1} 名",
    "question {}: a candidate is listed twice": "议题 {0}：有候选人列了两次",
    "question {}: seats is between 1 and the candidates": (
        "议题 {0}：seats（应选名额）须在 1 到候选人数之间"
    ),
    "question {}: a yes/no question has no candidates or seats": (
        "议题 {0}：同意/反对类议题不设候选人，也不设应选名额"
    ),
    "question {}: answer yes, no or abstain": (
        "议题 {0}：请回答 yes（同意）、no（反对）或 abstain（弃权）"
    ),
    "question {}: choose among its candidates, each once (none at all abstains)": (
        "议题 {0}：请在该议题的候选人中选择，每人只能选一次（一名都不选即为弃权）"
    ),
    "question {}: choose at most {} candidate(s)": "议题 {0}：最多只能选 {1} 名候选人",
    "no such estate (or its registration has not reached voting yet)": (
        "找不到这个小区（也可能是该小区的登记信息尚未同步到表决服务）"
    ),
    # -- ballots: announcing, opening, closing, cancelling
    "the ballot is {}; only a draft is announced": "表决处于“{0}”状态；只有草稿才能公告",
    "the ballot is {}; only an announced one opens": (
        "表决处于“{0}”状态；只有已公告的表决才能开始投票"
    ),
    "voting opens at {}, as announced; not before": "按公告，投票于 {0} 开始，不能提前",
    "the announced voting period is over; cancel the ballot": (
        "公告的投票期已经过去，请取消这次表决"
    ),
    "the ballot is {}; it can no longer be cancelled": "表决处于“{0}”状态，已不能取消",
    (
        "you hold no unit on this ballot's roll (frozen when voting opened), and no owner has "
        "named you their proxy"
    ): "您在这次表决的业主名册（投票开始时冻结）上没有房屋，也没有业主委托您为代理人",
    "the ballot is {}; its documents are fixed once voting opens": (
        "表决处于“{0}”状态；投票开始后，表决材料不能再更改"
    ),
    "no such attachment on this ballot": "这次表决没有这份材料",
    "the ballot is {}; a proxy is named while it is announced or open": (
        "表决处于“{0}”状态；只有在已公告或投票中时才能委托代理人"
    ),
    "you hold no unit on this ballot's roll": "您在这次表决的业主名册上没有房屋",
    "no such proxy of yours on this ballot": "您在这次表决中没有这项委托",
    "the ballot is {}; its proxies stand as they were": (
        "表决处于“{0}”状态；已有的委托保持不变，不能再撤销"
    ),
    "no such scan on this ballot": "这次表决没有这份扫描件",
    "upload the scan of the signed paper ballot first; it is the vote's evidence": (
        "请先上传业主签名的纸质表决票的扫描件，它是这张票的凭证"
    ),
    "no such unit on this ballot's roll": "这次表决的业主名册上没有这套房屋",
    "no such receipt on this ballot": "这次表决中没有这张回执",
    "the assembly this petition asked for is called already": "这份联署要求召开的业主大会已经召集",
    "the ballot is {}; only an open one closes": "表决处于“{0}”状态；只有投票中的表决才能截止",
    "voting closes at {}, as announced; not before": "按公告，投票于 {0} 截止，不能提前截止",
    "the ballot is {}; a result becomes final after it is published": (
        "表决处于“{0}”状态；结果公布后才能确认生效"
    ),
    "objections to the result are open until {}": (
        "对结果的异议期到 {0} 才结束，之后才能确认结果生效"
    ),
    "the ballot is {}; its result is not out yet": "表决处于“{0}”状态，结果尚未公布",
    "question {}: every candidate needs a name": (
        "议题 {0}：每名候选人都须填写名称（最多 200 个字符）"
    ),
    "the petition has not reached a fifth of the headcount yet": (
        "这份联署还没有达到业主人数的五分之一"
    ),
    "a ballot has at most {} attachments": "一次表决最多 {0} 份材料",
    # -- monthly meetings
    "state is one of {}, not {}": "state 须为以下之一：{0}，而不是 {1}",
    "starts_at is required: when the meeting begins": "请填写 starts_at：会议开始时间",
    "starts_at must be in the future": "starts_at 须是将来的时间",
    "a meeting is scheduled at most {} days ahead": "会议最多提前 {0} 天安排",
    "the agenda has 1 to {} items": "议程须有 1 到 {0} 项",
    "the minutes list at most {} points": "会议纪要最多列出 {0} 个事项",
    "this estate has no such meeting": "这个小区没有这次会议",
    "the meeting is {}; {} only while it is scheduled": (
        "会议处于“{0}”状态；只有待召开的会议才能{1}"
    ),
    "the meeting starts at {}; its minutes are published once it has been held": (
        "会议 {0} 开始，召开后才能发布纪要"
    ),
    "the meeting is {}; its points become suggestions once its minutes are published": (
        "会议处于“{0}”状态；纪要发布后，会上提出的事项才能转为建议"
    ),
    "the minutes list no point {}": "会议纪要中没有事项 {0}",
    "point {} became suggestion {} already": "事项 {0} 已经转为建议 {1}",
    # -- tenders and bids
    "term_months is from 1 to {} (ten years)": "term_months（合同期限）须为 1 到 {0} 个月（十年）",
    "closes_at is required: until when bids are accepted": "请填写 closes_at：投标截止时间",
    "closes_at must be in the future: bids are accepted until then": (
        "closes_at 须是将来的时间：投标在此之前接受"
    ),
    "a tender closes within {} days": "投标截止时间须在 {0} 天之内",
    "remuneration_ratio {} is not a fraction like 1/10 or a decimal like 0.1": (
        "remuneration_ratio 的值 {0} 既不是分数（如 1/10），也不是小数（如 0.1）"
    ),
    "remuneration_ratio is more than 0 and less than 1": (
        "remuneration_ratio（酬金比例）须大于 0 且小于 1"
    ),
    "give remuneration_ratio with fewer digits": (
        "remuneration_ratio 的位数过多，请用较少的位数填写"
    ),
    "propose remuneration as a ratio of income or as a fixed monthly sum, not both": (
        "酬金请按收入比例或固定月酬金报出，二者只能选一"
    ),
    "propose remuneration: remuneration_ratio (e.g. 1/10) or remuneration_monthly_fen": (
        "请报出酬金：remuneration_ratio（酬金比例，如 1/10）或 "
        "remuneration_monthly_fen（固定月酬金，单位为分）"
    ),
    "remuneration_monthly_fen is more than 0 and at most {} fen": (
        "remuneration_monthly_fen（固定月酬金）须大于 0，且不超过 {0} 分"
    ),
    "propose a fee rate for at least one unit type": "请至少为一类房屋报出物业费单价",
    "staffing lists at most {} roles": "人员配置（staffing）最多列出 {0} 个岗位",
    "say how the estate would be staffed: staffing or staffing_notes": (
        "请说明小区的人员配置：填写 staffing 或 staffing_notes"
    ),
    "at most {} attachments": "附件最多 {0} 个",
    "an attachment is listed twice": "有附件列了两次",
    "your roles do not allow this ({}): a property company's manager bids for it": (
        "您的角色不能执行此操作（{0}）：投标须由物业服务企业的项目经理进行"
    ),
    "you manage several companies: name the one bidding as company_id": (
        "您管理多家企业，请在 company_id 中指明投标的企业"
    ),
    "this estate has no such tender": "这个小区没有这项招标",
    "unit_type is one of {}, not {}": "unit_type（房屋类型）须为以下之一：{0}，而不是 {1}",
    "{} has two rates; propose one": "{0} 类房屋报了两个物业费单价，请只报一个",
    "staffing line {}: count is from 1 to {}": "人员配置第 {0} 行：人数（count）须为 1 到 {1}",
    "staffing lists {} twice": "人员配置中“{0}”岗位列了两次",
    "an attachment is named by its sha256: 64 lowercase hex digits": (
        "附件须以其 sha256 指明：64 位小写十六进制字符"
    ),
    "you do not manage the company named by company_id": "您没有管理 company_id 所指的企业",
    "no such tender open to bids": "找不到这项可投标的招标",
    "the company you manage is not registered on the platform": "您管理的企业尚未在平台登记",
    "the tender is {}; only a draft's terms change": "招标处于“{0}”状态；只有草稿的条件可以修改",
    "the tender is {}; only a draft is published": "招标处于“{0}”状态；只有草稿才能发布",
    "the draft closes at {}, which has passed; give it a later closes_at first": (
        "草稿的投标截止时间 {0} 已过，请先把 closes_at 改晚"
    ),
    "bids are accepted until {}, as published; the tender closes then, not before": (
        "按发布的招标，投标截止时间为 {0}；届时才能截标，不能提前"
    ),
    "the tender is {}; only an open one closes": "招标处于“{0}”状态；只有投标中的招标才能截标",
    "the tender is {}; it can no longer be cancelled": "招标处于“{0}”状态，已不能取消",
    "ballot {} on this tender's bids is {}; cancel the ballot first": (
        "就这次招标的投标进行的表决 {0} 处于“{1}”状态，请先取消该表决"
    ),
    "the tender is {}; its bids go to a ballot once it has closed": (
        "招标处于“{0}”状态；截标后才能把投标提交表决"
    ),
    "the tender is {}; it puts nothing to a ballot": "招标处于“{0}”状态，没有可提交表决的内容",
    "ballot {} on this tender's bids is {} already; cancel it to draft another": (
        "就这次招标的投标进行的表决 {0} 已处于“{1}”状态；如需重新起草，请先取消该表决"
    ),
    (
        "no company bid on this tender, so there is nothing to choose among; cancel it and publish "
        "another"
    ): "没有企业投标，无从选择；请取消这次招标，重新发布",
    "the tender is {}; bids were accepted until {}": "招标处于“{0}”状态；投标已于 {1} 截止",
    "this tender has {} bids, the most a ballot can put to owners": (
        "这次招标已有 {0} 份投标，已达一次表决能列出的候选上限"
    ),
    # -- suggestions, complaints, inquiries and surveys
    "{} is required": "{0} 为必填项",
    "{} has at most {} characters, not {}": "{0} 最多 {1} 个字符，现有 {2} 个",
    "{} contains control characters; send plain text": "{0} 含有控制字符，请提交纯文本",
    "kind is one of {}, not {}": "kind 须为以下之一：{0}，而不是 {1}",
    (
        "an inquiry names the ledger entry or disbursement it asks about as subject_ref: "
        "entry:<uuid> or disbursement:<uuid>, not {}"
    ): (
        "质询须在 subject_ref 中写明所质询的账目或支出申请：entry:<uuid> 或 disbursement:<uuid>，"
        "不能是 {0}"
    ),
    "this {} is {}; it can be {} only when it is {}": (
        "该{0}处于“{1}”状态；只有处于“{3}”状态时才能标记为“{2}”"
    ),
    "due_on must be a date, YYYY-MM-DD, not {}": "due_on 须为 YYYY-MM-DD 格式的日期，不能是 {0}",
    "due_on {} has passed; commit to today ({}) or later": (
        "due_on（整改期限）{0} 已过；请定在今天（{1}）或以后"
    ),
    "due_on is at most {} days ahead": "due_on（整改期限）最多在 {0} 天之后",
    "the photo is empty": "照片是空文件",
    "the photo is larger than the limit of {} bytes (5 MiB)": "照片超过了 {0} 字节（5 MB）的上限",
    "a photo is one of {}, not {}": "照片的类型须为以下之一：{0}，而不是 {1}",
    "the photo is declared {} but its bytes say it is {}; send it with its true type": (
        "照片声明的类型是 {0}，但文件内容显示为 {1}；请按实际类型上传"
    ),
    "a survey has 1 to {} questions": "调查须有 1 到 {0} 个问题",
    "mark at most one question as the survey's satisfaction question": (
        "最多只能把一个问题标为这份调查的满意度问题"
    ),
    "this estate has no such suggestion, complaint or inquiry": "这个小区没有这条建议、投诉或质询",
    "only inquiries name a subject_ref; leave it empty": "只有质询才填写 subject_ref，请留空",
    "{} measures satisfaction, so it is a 1-5 scale": "{0} 用于衡量满意度，须为 1 到 5 分的评分题",
    "this survey has no question {}": "这份调查没有问题 {0}",
    "{} is answered twice": "问题 {0} 回答了两次",
    "{} is answered on a scale of 1 to 5": "问题 {0} 须以 1 到 5 分作答",
    "{} is answered with an option index from 0 to {}": "问题 {0} 须以 0 到 {1} 的选项序号作答",
    "this item has no such photo": "这一事项没有这张照片",
    "this estate has no such survey": "这个小区没有这份调查",
    "closes_at is required: when the survey closes": "请填写 closes_at：调查截止时间",
    "closes_at must be in the future": "closes_at 须是将来的时间",
    "a survey closes within {} days": "调查须在 {0} 天内截止",
    "{} is a 1-5 scale and has no options": "{0} 是 1 到 5 分的评分题，不能设选项",
    "{}'s kind is scale or choice, not {}": "{0} 的 kind 须为 scale 或 choice，不能是 {1}",
    "state is one of {}": "state 须为以下之一：{0}",
    "only the person who submitted this {} may {} it": ("只有提出该{0}的人才能{1}"),
    (
        "photos are added by the person who submitted this {}, or by the company as evidence of "
        "its work"
    ): "照片只能由提出该{0}的人添加，或由物业服务企业作为工作凭证添加",
    "this {} is confirmed: it takes no more photos": "该{0}已确认，不能再添加照片",
    "this {} has {} photos, the most it takes": "该{0}已有 {1} 张照片，已达上限",
    "this survey is closed; it takes no more answers": "调查已截止，不能再作答",
    "{} offers 2 to {} options": "{0} 须有 2 到 {1} 个选项",
    "{} lists an option twice": "{0} 中有重复的选项",
}
