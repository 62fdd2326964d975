"""What we tell the person who typed a value: what is wrong, what to write, what we noticed.

Every message comes in Chinese and English. An error names the place (column and the
text there), says what is wrong in words, and, where a repaired value can be found
(``周一至周五 8:00-20:00`` → ``Mo-Fr 08:00-20:00``), gives it to copy. A value that is
valid but probably not what was meant (a span of 22 hours, ``25:00``) is accepted with a
note, and so is a value we stored in its canonical form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stations.hours.syntax import DAY_MIN, HoursSyntaxError, Parsed, canonical, parse

EXAMPLE = "Mo-Fr 08:00-20:00; PH off"

# code -> (Chinese, English); {placeholders} come from the error's params
_REASONS: dict[str, tuple[str, str]] = {
    "empty": ("营业时间为空", "the opening hours are empty"),
    "too-long": ("超过 {limit} 个字符", "longer than {limit} characters"),
    "unclosed-comment": (
        '注释缺少结尾的英文双引号 "',
        'a comment is missing its closing double quote "',
    ),
    "unknown-word": (
        "无法识别“{word}”：星期写作 Mo Tu We Th Fr Sa Su，月份写作 Jan…Dec，节假日写作 PH",
        '"{word}" is not part of the syntax: weekdays are Mo Tu We Th Fr Sa Su, '
        "months Jan…Dec, holidays PH",
    ),
    "unexpected-character": (
        "不能使用字符“{char}”：只能用英文字母、数字和 - , ; : + / 等英文标点",
        'the character "{char}" cannot be used: only letters, digits and ASCII '
        "punctuation such as - , ; : + /",
    ),
    "unexpected": ("“{found}”不应出现在这里", '"{found}" does not belong here'),
    "expected": ("这里应有“{symbol}”", 'expected "{symbol}" here'),
    "state-after-comment": (
        'open/off/unknown 要写在注释之前，例如 off "夜间"',
        'write open/off/unknown before the comment, e.g. off "evening"',
    ),
    "bad-offset-days": (
        "偏移最多 {most} 天（法定节假日只能写 PH +1 day 或 PH -1 day）",
        "an offset is at most {most} days (for holidays only PH +1 day or PH -1 day)",
    ),
    "too-many": (
        "内容过多：{count} {what_zh}（最多 {most}）；请合并或简化规则",
        "too much in one value: {count} {what} (at most {most}); merge or simplify the rules",
    ),
    "week-wraps": (
        "周数范围 {first}-{last} 跨年了：请分两段写，例如 week {first}-53,01-{last}",
        "the week range {first}-{last} wraps around the year: write it in two pieces, "
        "e.g. week {first}-53,01-{last}",
    ),
    "empty-rule": (
        "有一条空规则（两个分隔符之间没有内容）",
        "a rule is empty (nothing between two separators)",
    ),
    "wide-comment": (
        '不支持把注释写在规则开头（"…": ）；请把注释写在规则末尾',
        'a comment cannot start a rule ("…": ); put it at the end of the rule',
    ),
    "selector-order": (
        "顺序不对：年份、日期、星期、时间依次书写，例如 Jan-Mar Mo-Fr 08:00-18:00",
        "the parts are out of order: write year, dates, weekdays, then times, "
        "e.g. Jan-Mar Mo-Fr 08:00-18:00",
    ),
    "hours-without-minutes": (
        "时间要写成 时:分，例如 08:00-20:00",
        "times are written HH:MM-HH:MM, e.g. 08:00-20:00",
    ),
    "expected-year": ("这里应为四位年份，例如 2026", "expected a four-digit year such as 2026"),
    "bad-year": (
        "“{found}”不是有效年份（应为四位数，例如 2026）",
        '"{found}" is not a year (four digits, e.g. 2026)',
    ),
    "bad-week": ("周数应在 1 到 53 之间", "week numbers are 1 to 53"),
    "bad-step": ("“/”后应为间隔数，例如 /2", 'expected an interval after "/", e.g. /2'),
    "range-backwards": ("范围 {first}-{last} 是倒序的", "the range {first}-{last} runs backwards"),
    "open-date": (
        "不支持没有结束日期的日期（如 Jan 01+）",
        "dates without an end (such as Jan 01+) are not supported",
    ),
    "date-range-mixed": (
        "日期范围的两端要么都写日（Jan 01-Mar 31），要么都不写（Jan-Mar）",
        "both ends of a date range need a day (Jan 01-Mar 31), or neither (Jan-Mar)",
    ),
    "expected-month": ("这里应为月份 Jan…Dec", "expected a month, Jan…Dec"),
    "bad-day": ("{month} 没有第 {day} 日", "{month} has no day {day}"),
    "unsupported-date-weekday": (
        "不支持“日期 + 星期”这种写法（如 Mar Su[-1]）；请直接写日期",
        "dates tied to a weekday (such as Mar Su[-1]) are not supported; write the date",
    ),
    "school-holidays": (
        "不支持 SH（学校假期）：中国没有统一的学校假期日历；请直接写日期，"
        "例如 Mo-Fr 08:00-20:00; 2026 Jul 04-Aug 31 off",
        "SH (school holidays) is not supported: China has no school-holiday calendar; "
        "write the dates, e.g. Mo-Fr 08:00-20:00; 2026 Jul 04-Aug 31 off",
    ),
    "expected-weekday": ("这里应为星期 Mo…Su 或 PH", "expected a weekday Mo…Su or PH"),
    "bad-nth": (
        "方括号内应为 1 到 5 或 -1 到 -5，例如 Mo[1] 表示每月第一个周一",
        "inside [ ] use 1 to 5 or -1 to -5, e.g. Mo[1] for the first Monday",
    ),
    "repeating-time": (
        "不支持重复时间（/ 间隔），营业时间只写时段",
        "repeating times (with /) are not opening hours; write time spans",
    ),
    "point-in-time": (
        "“{found}”只有开始时间：请写成时段，例如 08:00-20:00；"
        "营业到次日凌晨写作 22:00-06:00；结束时间不定写作 18:00+",
        '"{found}" has no end: write a span such as 08:00-20:00; past midnight, '
        "22:00-06:00; with no fixed end, 18:00+",
    ),
    "start-past-midnight": (
        "“{clock}”已过午夜：次日的时间请写成前一天时段的结束时间，例如 22:00-01:00",
        '"{clock}" is past midnight: write a time on the next day as the end of the '
        "evening's span, e.g. 22:00-01:00",
    ),
    "bad-minutes": ("“{clock}”的分钟不能超过 59", 'the minutes of "{clock}" cannot exceed 59'),
    "two-midnights": (
        "“{clock}”超过了次日 24:00（最晚写到 48:00）",
        '"{clock}" is past the next midnight (48:00 at most)',
    ),
    "expected-time": ("这里应为时间，例如 08:00", "expected a time such as 08:00"),
    "expected-event": (
        "括号内应为 sunrise、sunset、dawn 或 dusk",
        "inside ( ) use sunrise, sunset, dawn or dusk",
    ),
    "expected-offset": (
        "应写成 (sunrise+01:00) 这样的偏移",
        "write an offset such as (sunrise+01:00)",
    ),
    "bad-offset": ("偏移最多 12:00", "an offset is at most 12:00"),
}


def _quote(text: str) -> str:
    """Quote user text on one line (newlines and quotes escaped)."""
    return json.dumps(text, ensure_ascii=False)


def error_messages(expr: str, exc: HoursSyntaxError) -> tuple[str, str]:
    """The Chinese and English message for a value the parser refused."""
    zh_reason, en_reason = _REASONS.get(exc.code, ("语法错误", "syntax error"))
    params = {k: str(v) for k, v in exc.params.items()}
    zh_reason, en_reason = zh_reason.format_map(params), en_reason.format_map(params)
    if exc.code == "empty":
        return (
            f"营业时间为空；示例：{_quote(EXAMPLE)}",
            f"opening hours are empty; example: {_quote(EXAMPLE)}",
        )
    zh_where = en_where = ""
    if exc.column is not None:
        near = expr[exc.column - 1 : exc.column + 19]
        zh_where = f"第 {exc.column} 列" + (f"（{_quote(near)} 处）" if near else "") + "："
        en_where = f"at column {exc.column}" + (f" (near {_quote(near)})" if near else "") + ": "
    fixed = repair(expr)
    zh_fix = f"；可改为：{_quote(fixed)}" if fixed else f"；示例：{_quote(EXAMPLE)}"
    en_fix = f"; write: {_quote(fixed)}" if fixed else f"; example: {_quote(EXAMPLE)}"
    return (
        f"营业时间 {_quote(expr)} 写法有误：{zh_where}{zh_reason}{zh_fix}",
        f"opening hours {_quote(expr)} are not valid OSM opening_hours syntax: "
        f"{en_where}{en_reason}{en_fix}",
    )


# --- repairs -------------------------------------------------------------------------

_CN_DAYS = {
    "一": "Mo",
    "二": "Tu",
    "三": "We",
    "四": "Th",
    "五": "Fr",
    "六": "Sa",
    "日": "Su",
    "天": "Su",
}
_EN_DAYS = {
    "monday": "Mo", "mon": "Mo", "tuesday": "Tu", "tue": "Tu", "tues": "Tu", "wednesday": "We",
    "wed": "We", "thursday": "Th", "thu": "Th", "thur": "Th", "thurs": "Th", "friday": "Fr",
    "fri": "Fr", "saturday": "Sa", "sat": "Sa", "sunday": "Su", "sun": "Su",
}  # fmt: skip
_PHRASES = (
    (r"(?:法定)?节假日(?:休息|不营业|关闭|闭馆)", "PH off"),
    (r"(?:法定)?节假日", "PH"),
    (r"全天(?:24小时)?|24小时(?:营业)?|全年无休", "24/7"),
    (r"每天|每日|天天|周一至周日|daily", "Mo-Su"),
    (r"工作日", "Mo-Fr"),
    (r"周末|双休日", "Sa,Su"),
    (r"休息|不营业|关闭|闭馆|closed", "off"),
)


def repair(expr: str) -> str | None:
    """A valid value a person probably meant by ``expr``, or None if none is found."""
    text = expr.strip()
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, f" {replacement} ", text, flags=re.IGNORECASE)
    text = re.sub(r"(?:星期|礼拜|周)([一二三四五六日天])", lambda m: _CN_DAYS[m[1]], text)
    text = re.sub(
        r"\b([A-Za-z]{3,9})\b",
        lambda m: _EN_DAYS.get(m[1].lower(), m[1]),
        text,
    )
    text = re.sub(r"\s*(?:至|到|~|～|—|–|－)\s*", "-", text)
    text = text.replace("：", ":").replace("；", ";").replace("，", ",").replace("、", ",")
    text = re.sub(r"(\d{1,2})[点时](\d{2})分?", r"\1:\2", text)
    text = re.sub(r"(\d{1,2})[点时]", r"\1:00", text)
    text = re.sub(r"\b(\d{2})(\d{2})-(\d{2})(\d{2})\b", r"\1:\2-\3:\4", text)  # 0800-2000
    text = re.sub(r"\b(\d{1,2})\.(\d{2})\b", r"\1:\2", text)  # 8.30
    text = re.sub(r"(?<![\d:])(\d{1,2})-(\d{1,2})(?![\d:])", r"\1:00-\2:00", text)  # 8-20
    text = re.sub(r"(?<![\d:])(\d):(\d{2})", r"0\1:\2", text)
    text = re.sub(r"\s*,\s*(?=[A-Z][a-z]\b|PH\b)", ",", text)
    text = re.sub(r"(?<=\w)\s*[,;]?\s*(?=PH off)", "; ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if text == expr.strip():
        return None
    try:
        return canonical(parse(text))
    except HoursSyntaxError:
        return None


# --- notes on valid values -----------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """Something worth telling the editor about a value we accepted."""

    code: str
    zh: str
    en: str

    def message(self, lang: str) -> str:
        """The note in ``lang``."""
        return self.en if lang == "en" else self.zh

    def as_dict(self, lang: str) -> dict[str, str]:
        """For JSON answers."""
        return {"code": self.code, "message": self.message(lang)}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def notes(written: str, parsed: Parsed, text: str) -> tuple[Note, ...]:
    """Notes for a valid value: probable typos first, then how it was rewritten."""
    out: list[Note] = []
    for rule in parsed.rules:
        for span in rule.spans:
            if span.end is None or span.start.event or span.end.event:
                continue
            start, end = span.start.minutes, span.end.minutes
            length = end - start if end > start else end + DAY_MIN - start
            if end > DAY_MIN:
                out.append(
                    Note(
                        "past-midnight",
                        f"“{_hhmm(end)}”是次日 {_hhmm(end - DAY_MIN)}：已按 {_hhmm(start)} "
                        f"至次日 {_hhmm(end - DAY_MIN)} 理解；"
                        f"通常写作 {_hhmm(start)}-{_hhmm(end - DAY_MIN)}",
                        f'"{_hhmm(end)}" is {_hhmm(end - DAY_MIN)} on the next day: read as '
                        f"{_hhmm(start)} to {_hhmm(end - DAY_MIN)} the next day; usually written "
                        f"{_hhmm(start)}-{_hhmm(end - DAY_MIN)}",
                    )
                )
            elif length > 20 * 60 and not (start == 0 and end == DAY_MIN):
                out.append(
                    Note(
                        "long-span",
                        f"{_hhmm(start)}-{_hhmm(end)} 连续 {length // 60} 小时，跨过午夜："
                        "如果当天就关门，结束时间应晚于开始时间",
                        f"{_hhmm(start)}-{_hhmm(end)} lasts {length // 60} hours, past midnight: "
                        "if the station closes the same day, the closing time comes after "
                        "the opening time",
                    )
                )
    if all(rule.state == "unknown" for rule in parsed.rules):
        out.append(
            Note(
                "unknown-only",
                "只有说明、没有确定的营业时段：骑手端会显示“时间不详”，搜索“营业中”时不会列出本站",
                'only a comment, no definite hours: couriers will see "hours unknown" and an '
                "open-now search will never list this station",
            )
        )
    if text != written:
        out.append(
            Note(
                "rewritten",
                f"已按标准写法保存为 {_quote(text)}（各类地图软件读法一致）",
                f"saved in the standard form {_quote(text)}, which every map app reads "
                "the same way",
            )
        )
    return tuple(out)
