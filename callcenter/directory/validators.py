"""Field checks for directory data: ID numbers (GB 11643), phone numbers, flags."""

from __future__ import annotations

import re
from datetime import date

from callcenter.store.models import ContactRole, ElderLanguage, Gender, Hearing

# GB 11643-1999 §6: weights of the first 17 digits and the check character table.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Fixed line with its area code (010, 022, 0571…) then 7-8 digits: 10-12 digits in all.
_FIXED_LINE = re.compile(r"^0[1-9]\d{8,10}$")
_PHONE_NOISE = re.compile(r"[\s\-()]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_TRUE = frozenset({"yes", "y", "true", "1", "是", "t"})
_FALSE = frozenset({"no", "n", "false", "0", "否", "f", ""})
_GENDERS = {"m": Gender.MALE, "male": Gender.MALE, "男": Gender.MALE,
            "f": Gender.FEMALE, "female": Gender.FEMALE, "女": Gender.FEMALE}
_ROLES = {
    "kin": ContactRole.KIN, "亲属": ContactRole.KIN, "家属": ContactRole.KIN,
    "doctor": ContactRole.DOCTOR, "医生": ContactRole.DOCTOR,
    "social_worker": ContactRole.SOCIAL_WORKER, "社工": ContactRole.SOCIAL_WORKER,
    "other": ContactRole.OTHER, "其他": ContactRole.OTHER,
}


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def parse_id_number(value: str) -> tuple[str, date, Gender]:
    """Validate an 18-character resident ID; return it normalised, its birth date and gender."""
    number = value.strip().upper()
    if not _ID_SHAPE.match(number):
        raise ValueError("must be 18 characters: 17 digits then a digit or X")
    expected = id_check_char(number[:17])
    if number[17] != expected:
        raise ValueError(f"check digit is {number[17]}, expected {expected} (GB 11643)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as err:
        raise ValueError(f"birth date {number[6:14]} in it is not a real date") from err
    gender = Gender.MALE if int(number[16]) % 2 else Gender.FEMALE
    return number, born, gender


def normalise_phone(value: str) -> str:
    """A mainland mobile (11 digits) or a fixed line with area code, digits only."""
    number = _PHONE_NOISE.sub("", value)
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix):]
            break
    else:
        if len(number) == 13 and number.startswith("861"):
            number = number[2:]
    if _MOBILE.match(number) or _FIXED_LINE.match(number):
        return number
    raise ValueError(
        f"{value!r} is not a mainland mobile (1[3-9] + 9 digits) "
        "or a fixed line with its area code (e.g. 022-23456789)"
    )


def split_list(value: str) -> list[str]:
    """Split a ';'-separated cell (also '；' from Chinese input), dropping blanks."""
    return [part.strip() for part in value.replace("；", ";").split(";") if part.strip()]


def parse_flag(value: str) -> bool:
    """yes/no, 1/0, true/false, 是/否; blank is no."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not one of yes/no, 1/0, 是/否")


def parse_gender(value: str) -> Gender:
    """M/F, male/female or 男/女."""
    try:
        return _GENDERS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{value!r} is not M, F, 男 or 女") from None


_LANGUAGES = {
    **{lang.value: lang for lang in ElderLanguage},
    "普通话": ElderLanguage.MANDARIN, "国语": ElderLanguage.MANDARIN,
    "粤语": ElderLanguage.CANTONESE, "广东话": ElderLanguage.CANTONESE,
    "沪语": ElderLanguage.SHANGHAINESE, "上海话": ElderLanguage.SHANGHAINESE,
    "闽南语": ElderLanguage.MINNAN, "闽南话": ElderLanguage.MINNAN,
    "客家话": ElderLanguage.HAKKA, "四川话": ElderLanguage.SICHUANESE,
    "天津话": ElderLanguage.TIANJIN, "东北话": ElderLanguage.NORTHEASTERN,
    "其他方言": ElderLanguage.OTHER, "其他": ElderLanguage.OTHER,
}
_HEARING = {
    **{h.value: h for h in Hearing}, "": Hearing.NORMAL,
    "正常": Hearing.NORMAL, "听力正常": Hearing.NORMAL,
    "重听": Hearing.HARD_OF_HEARING, "听力差": Hearing.HARD_OF_HEARING,
    "听力障碍": Hearing.HARD_OF_HEARING,
    "聋": Hearing.DEAF, "失聪": Hearing.DEAF, "聋人": Hearing.DEAF, "用文字": Hearing.DEAF,
}


def parse_language(value: str) -> str:
    """A language code (mandarin, cantonese…) or its Chinese name (普通话, 粤语…); blank:
    not recorded."""
    text = value.strip().lower()
    if not text:
        return ""
    try:
        return _LANGUAGES[text].value
    except KeyError:
        names = "、".join(k for k in _LANGUAGES if not k.isascii())
        raise ValueError(f"{value!r} is not a known language: {', '.join(ElderLanguage)} "
                         f"or {names}") from None


def parse_hearing(value: str) -> str:
    """normal / hard_of_hearing / deaf, or 正常 / 重听 / 聋 (uses text); blank: normal."""
    try:
        return _HEARING[value.strip().lower()].value
    except KeyError:
        raise ValueError(f"{value!r} is not normal, hard_of_hearing or deaf "
                         "(正常、重听、聋)") from None


def parse_role(value: str) -> ContactRole:
    """kin|doctor|social_worker|other, or 亲属|医生|社工|其他."""
    try:
        return _ROLES[value.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{value!r} is not kin, doctor, social_worker, other (亲属, 医生, 社工, 其他)"
        ) from None


def check_email(value: str) -> str:
    """A plausible e-mail address (one @, a dot in the domain, no spaces)."""
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value
