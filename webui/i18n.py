"""Message catalogs (JSON files in ``webui/locale/``): zh-CN by default, English on request."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web

from callcenter.logs import get_logger
from webui.validation import safe_next

log = get_logger(__name__)
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "lang"


class Translator:
    """Looks messages up in one language, falling back to the default catalog."""

    def __init__(self, lang: str, messages: dict[str, str], fallback: dict[str, str]) -> None:
        self.lang = lang
        self._messages = messages
        self._fallback = fallback

    def has(self, key: str) -> bool:
        """True when the key is in this catalog or the default one."""
        return key in self._messages or key in self._fallback

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages.get(key) or self._fallback.get(key)
        if text is None:
            log.warning("message missing from catalog", key=key, lang=self.lang)
            text = key
        return text.format(**values) if values else text


class Catalogs:
    """Every language's catalog, loaded once at start."""

    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.messages: dict[str, dict[str, str]] = read_catalogs(directory)
        if DEFAULT_LANG not in self.messages:
            raise RuntimeError(f"the {DEFAULT_LANG} catalog is missing from {directory}")
        self._translate()

    def add(self, directory: Path) -> None:
        """A feature's own messages (``<lang>.json``); a key two catalogs define is an error."""
        for lang, messages in read_catalogs(directory).items():
            mine = self.messages.setdefault(lang, {})
            clash = sorted(mine.keys() & messages.keys())
            if clash:
                raise RuntimeError(f"messages defined twice ({directory}): {', '.join(clash)}")
            mine.update(messages)
        self._translate()

    def _translate(self) -> None:
        self._translators = {
            lang: Translator(lang, messages, self.messages[DEFAULT_LANG])
            for lang, messages in self.messages.items()
        }

    @property
    def languages(self) -> list[str]:
        return list(self.messages)

    def for_request(self, request: web.Request) -> Translator:
        """The translator for the language chosen by the ``lang`` cookie."""
        lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
        return self._translators.get(lang) or self._translators[DEFAULT_LANG]


def read_catalogs(directory: Path) -> dict[str, dict[str, str]]:
    """Every ``<lang>.json`` of a folder."""
    return {path.stem: orjson.loads(path.read_bytes()) for path in sorted(directory.glob("*.json"))}


CATALOGS = web.AppKey("catalogs", Catalogs)


def translator(request: web.Request) -> Translator:
    """The request's translator."""
    return request.app[CATALOGS].for_request(request)


async def switch_language(request: web.Request) -> web.StreamResponse:
    """GET /lang/{code}: remember the language in a cookie and go back."""
    catalogs = request.app[CATALOGS]
    lang = request.match_info["code"]
    if lang not in catalogs.messages:
        raise web.HTTPNotFound()
    target = safe_next(request.query.get("next"))
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Strict", httponly=True
    )
    raise response
