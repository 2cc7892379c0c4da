"""Chinese wording of the English words and phrases the code puts into refusals as values
(see `xinyi_gateway.refusals`): a value is worded only when it is one of these, whole."""

VALUES: dict[str, str] = {
    # Names checked by identity's clean_name ("{} must not be empty", "{} has at most {} ...").
    "the district's name": "区的名称",
    "the street's name": "街道的名称",
    "the community's name": "社区的名称",
    "the company's name": "物业服务企业的名称",
    "the estate's name": "小区的名称",
    "the approving body's name": "审批机构的名称",
    "the group's name": "合并管理组的名称",
    "the display name": "显示名称",
    "the key's label": "设备名称",
    # The onboarding case: its working group, the contract's supervisors, the handover.
    "a member's name": "工作组成员的姓名",
    "a member's affiliation": "工作组成员的单位",
    "a member's user_id": "工作组成员的 user_id",
    "a supervisor": "监察人名称",
    "a note": "移交事项的备注",
    # Who signs a month's head (the company's sign comes first).
    "committee": "业委会",
    # The scope a platform role is granted per.
    "platform": "平台",
    # Amounts and dates the ledger checks.
    "the amount": "金额",
    "the fixed monthly sum": "固定月酬金",
    "an item's amount": "明细的金额",
    "an item's date": "明细的日期",
    "any unit": "任何房屋",
    # Files: what is uploaded, and what it turned out to be.
    "the file": "文件",
    "the redacted copy": "去除个人信息的副本",
    "a voucher": "凭证",
    "a photo": "照片",
    "a scan": "扫描件",
    "an attachment": "表决材料",
    "a gate export": "道闸导出文件",
    "unnamed": "未注明的类型",
    "none": "无",
    "none of the accepted types": "可接受类型以外的文件",
    "none of the accepted image types": "可接受类型以外的图片",
    # A value not given at all.
    "empty": "空值",
    # A bank statement line's state.
    "matched": "已对上",
    "explained": "已说明",
    # A disbursement's state.
    "requested": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
    "paid": "已支付",
    "posted": "已入账",
    # A ballot's, a tender's and a meeting's state.
    "draft": "草稿",
    "announced": "已公告",
    "published": "已公布结果",
    "final": "结果已生效",
    "closed": "已结束",
    "decided": "已选定",
    "cancelled": "已取消",
    "scheduled": "待召开",
    "held": "已召开",
    # What only a scheduled meeting does.
    "it changes": "修改会议",
    "it is cancelled": "取消会议",
    "the work report is posted": "发布工作报告",
    "its minutes are published": "发布会议纪要",
    # Texts of meetings, tenders and owners' suggestions.
    "the reason": "取消的原因",
    "the work report": "工作报告",
    "the minutes": "会议纪要",
    "the answer": "答复",
    "what will be done": "整改措施",
    "what was done": "整改完成情况",
    "why it is reopened": "重新打开的原因",
    # An owners' suggestion: its kind, its state, and the steps taken on it.
    "suggestion": "金点子",
    "complaint": "投诉",
    "inquiry": "质询",
    "submitted": "待答复",
    "answered": "已答复",
    "committed": "整改中",
    "rectified": "已整改",
    "confirmed": "已确认",
    "reopened": "已重新打开",
    "committed to": "承诺整改",
    "reported rectified": "报告已整改",
    "confirm": "确认",
    "reopen": "重新打开",
    # A notification's delivery.
    "pending": "待投递",
    "sent": "已发送",
    "digest": "待每日汇总发送",
    # Words the file parsers put into their sentences.
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
