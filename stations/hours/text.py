"""Hours as a person reads them: ``周一至周五 08:00–20:00；法定节假日休息``.

A courier at night does not read ``Mo-Fr 08:00-20:00; PH off``. This renders the parsed
rules, never the raw text, in Chinese or English, rule by rule in the order they apply
(a later rule overrides an earlier one, which a reader follows naturally), with spans
past midnight marked as such (``22:00–次日06:00``).
"""

from __future__ import annotations

from stations.hours.syntax import (
    DAY_MIN,
    MONTHS,
    Clock,
    DatePoint,
    Dates,
    Parsed,
    Range,
    Rule,
    Span,
)

_ZH_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EVENTS = {
    "zh": {"dawn": "黎明", "sunrise": "日出", "sunset": "日落", "dusk": "黄昏"},
    "en": {"dawn": "dawn", "sunrise": "sunrise", "sunset": "sunset", "dusk": "dusk"},
}
_DASH = "–"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _duration(minutes: int, lang: str) -> str:
    h, m = divmod(abs(minutes), 60)
    if lang == "zh":
        return (f"{h}小时" if h else "") + (f"{m}分钟" if m else "")
    return " ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m else "") if p)


def _clock(clock: Clock, lang: str, next_day: bool = False) -> str:
    if clock.event is None:
        if clock.minutes == DAY_MIN and not next_day:
            return "24:00"  # the end of the day, as people write it
        minutes = clock.minutes - DAY_MIN if clock.minutes >= DAY_MIN else clock.minutes
        text = _hhmm(minutes)
        if next_day or clock.minutes > DAY_MIN:
            return f"次日{text}" if lang == "zh" else f"{text} (next day)"
        return text
    name = _EVENTS[lang][clock.event]
    if not clock.minutes:
        return name
    amount = _duration(clock.minutes, lang)
    if lang == "zh":
        return f"{name}{'后' if clock.minutes > 0 else '前'}{amount}"
    return f"{amount} {'after' if clock.minutes > 0 else 'before'} {name}"


def _span(span: Span, lang: str) -> str:
    if (
        span.end is not None
        and not span.open_end
        and (span.start.event, span.start.minutes, span.end.event, span.end.minutes)
        == (None, 0, None, DAY_MIN)
    ):
        return "全天" if lang == "zh" else "all day"
    start = _clock(span.start, lang)
    if span.end is None:
        return (
            f"{start}起（结束时间不定）"
            if lang == "zh"
            else f"from {start} (closing time not fixed)"
        )
    fixed = span.start.event is None and span.end.event is None
    overnight = fixed and span.end.minutes <= span.start.minutes
    text = f"{start}{_DASH}{_clock(span.end, lang, next_day=overnight)}"
    if span.open_end:
        text += "，之后时间不定" if lang == "zh" else ", then not fixed"
    return text


def _days(first: int, last: int, lang: str) -> str:
    names = _ZH_DAYS if lang == "zh" else _EN_DAYS
    if first == last:
        return names[first]
    if (first, last) == (0, 6):
        return "每天" if lang == "zh" else "daily"
    if (first, last) == (5, 6):
        return "周末" if lang == "zh" else "weekends"
    return (
        f"{names[first]}至{names[last]}" if lang == "zh" else f"{names[first]}{_DASH}{names[last]}"
    )


def _nth(n: int, lang: str) -> str:
    if lang == "zh":
        return f"第{n}个" if n > 0 else ("最后一个" if n == -1 else f"倒数第{-n}个")
    ordinal = {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
    return (
        ordinal
        if n > 0
        else ("last" if n == -1 else f"{-n}{'nd' if n == -2 else 'rd' if n == -3 else 'th'} last")
    )


def _offset(days: int, lang: str) -> str:
    if not days:
        return ""
    if lang == "zh":
        if days == 1:
            return "次日"
        if days == -1:
            return "前一天"
        return f"{'后' if days > 0 else '前'}{abs(days)}天"
    word = "day" if abs(days) == 1 else "days"
    return f" {abs(days)} {word} {'after' if days > 0 else 'before'}"


def _weekdays(rule: Rule, lang: str) -> str:
    items = []
    plain = [w for w in rule.weekdays if not w.nth]
    if {(w.first, w.last) for w in plain} in ({(5, 5), (6, 6)}, {(5, 6)}):
        items.append("周末" if lang == "zh" else "weekends")
    else:
        items += [_days(w.first, w.last, lang) for w in plain]
    names = _ZH_DAYS if lang == "zh" else _EN_DAYS
    for w in rule.weekdays:
        if not w.nth:
            continue
        which = (
            "、".join(_nth(n, "zh") for n in w.nth)
            if lang == "zh"
            else ", ".join(_nth(n, "en") for n in w.nth)
        )
        if lang == "zh":
            items.append(f"每月{which}{names[w.first]}{_offset(w.offset, lang)}")
        else:
            offset = _offset(w.offset, lang).strip()
            items.append(f"{offset} the {which} {names[w.first]} of the month".strip())
    holidays = []
    for h in rule.holidays:
        if lang == "zh":
            holidays.append(f"法定节假日{_offset(h.offset, lang)}")
        else:
            holidays.append(f"{_offset(h.offset, lang).strip()} public holidays".strip())
    sep = "、" if lang == "zh" else ", "
    if rule.holidays_only:
        if lang == "zh":
            return f"{sep.join(holidays)}中的{sep.join(items)}"
        return f"{sep.join(holidays)} on {sep.join(items)}"
    joined = sep.join(items)
    if holidays:
        both = sep.join(holidays)
        if not joined:
            return both
        return f"{joined}及{both}" if lang == "zh" else f"{joined} and {both}"
    return joined


def _range(r: Range, unit_zh: str, lang: str, week: bool = False) -> str:
    if lang == "zh":
        if r.last is None:
            return f"{'第' if week else ''}{r.first}{unit_zh}起"
        text = (
            f"{'第' if week else ''}{r.first}{'' if r.last == r.first else f'至{r.last}'}{unit_zh}"
        )
        return text + (f"（每隔{r.step}{'周' if week else '年'}）" if r.step != 1 else "")
    prefix = "week " if week else ""
    if r.last is None:
        return f"{prefix}{r.first} onwards"
    text = f"{prefix}{r.first}" + ("" if r.last == r.first else f"{_DASH}{r.last}")
    return text + (f" (every {r.step}{'nd' if r.step == 2 else 'th'})" if r.step != 1 else "")


def _point(p: DatePoint, lang: str, month_known: int | None = None) -> str:
    if lang == "zh":
        year = f"{p.year}年" if p.year is not None else ""
        if p.easter:
            core = "复活节"
        elif p.weekday is not None:
            core = f"{p.month}月{_nth(p.nth, lang)}{_ZH_DAYS[p.weekday]}"
        elif p.day is None:
            core = f"{p.month}月"
        elif month_known == p.month and not p.year:
            core = f"{p.day}日"
        else:
            core = f"{p.month}月{p.day}日"
        return year + core + _offset(p.offset, lang)
    year = f" {p.year}" if p.year is not None else ""
    if p.easter:
        core = "Easter"
    elif p.weekday is not None:
        core = f"the {_nth(p.nth, lang)} {_EN_DAYS[p.weekday]} of {MONTHS[(p.month or 1) - 1]}"
    elif p.day is None:
        core = MONTHS[(p.month or 1) - 1]
    elif month_known == p.month and not p.year:
        core = f"{p.day}"
    else:
        core = f"{p.day} {MONTHS[(p.month or 1) - 1]}"
    offset = _offset(p.offset, lang)
    return f"{offset.strip()} {core}{year}".strip() if offset else f"{core}{year}"


def _dates(d: Dates, lang: str) -> str:
    start = _point(d.start, lang)
    if d.to is None:
        return start
    same_month = d.start.month if d.start.day is not None and d.to.day is not None else None
    if lang == "zh":
        return f"{start}至{_point(d.to, lang, month_known=same_month)}"
    if same_month and d.to.month == same_month and d.to.year is None and not d.to.offset:
        # "1–8 Oct 2025": the first day alone, then the last with month and year
        year = d.start.year
        last = _point(DatePoint(year, d.to.month, d.to.day), lang)
        return f"{d.start.day}{_DASH}{last}"
    return f"{start}{_DASH}{_point(d.to, lang)}"


def rule_text(rule: Rule, lang: str) -> str:
    """One rule in words."""
    sep = "、" if lang == "zh" else ", "
    parts: list[str] = []
    if rule.years:
        parts.append(sep.join(_range(r, "年", lang) for r in rule.years))
    if rule.dates:
        parts.append(sep.join(_dates(d, lang) for d in rule.dates))
    if rule.weeks:
        parts.append(sep.join(_range(r, "周", lang, week=True) for r in rule.weeks))
    if rule.weekdays or rule.holidays:
        parts.append(_weekdays(rule, lang))
    selector = " ".join(parts) if lang == "en" else "".join(parts)
    if rule.always:
        times = "全天24小时" if lang == "zh" else "24 hours"
    elif rule.spans:
        times = sep.join(_span(s, lang) for s in rule.spans)
    else:
        times = ""
    state = rule.state
    if state == "closed":
        tail = "休息" if lang == "zh" else "closed"
        if times:
            tail = f"{times} {tail}"
    elif state == "unknown" and rule.modifier == "unknown":
        tail = (f"{times} " if times else "") + ("时间不详" if lang == "zh" else "hours unknown")
    else:
        tail = times or ("开放" if lang == "zh" else "open")
        if not parts and not times and rule.comment is not None:
            tail = ""
    if not parts and (rule.spans or rule.always) and lang == "zh" and not rule.always:
        selector = "每天"
    elif not parts and rule.spans and lang == "en":
        selector = "daily"
    text = f"{selector} {tail}".strip() if selector and times else f"{selector}{tail}"
    if lang == "en" and selector and not times:
        text = f"{selector} {tail}".strip()
    if rule.comment is not None:
        note = f"（{rule.comment}）" if lang == "zh" else f" ({rule.comment})"
        text = (text + note) if text else rule.comment
    return text


def describe(parsed: Parsed, lang: str = "zh") -> str:
    """The whole value in words, rules in order: ``周一至周五 08:00–20:00；法定节假日休息``."""
    lang = "en" if lang == "en" else "zh"
    out = []
    for i, rule in enumerate(parsed.rules):
        text = rule_text(rule, lang)
        if i and rule.separator == "||":
            text = f"其他时间：{text}" if lang == "zh" else f"otherwise: {text}"
        out.append(text)
    return ("；" if lang == "zh" else "; ").join(out)
