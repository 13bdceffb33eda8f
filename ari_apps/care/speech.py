"""What the elder hears, spoken per call in Mandarin at a slow pace (espeak-ng).

Made while the phone rings, held in memory by the process that places the call and
fetched by Asterisk over HTTP (``sound:<MEDIA_BASE_URL>/media/care/<name>``) by an
unguessable name, as every spoken file is (``callcenter.media``); dropped when the call
ends. When it cannot be made in time, ``CARE_FALLBACK_SOUND`` (a recorded greeting)
stands in.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ari_apps.care.exceptions import TaskNotFound
from ari_apps.care.models import CareKind
from callcenter.logs import get_logger
from callcenter.media import MediaRoute, SpokenFiles, wav_answer

log = get_logger(__name__)

Speaker = Callable[[str], Awaitable[bytes]]
MEDIA_PATH = "/media/care/"
MEDIA_NAME = re.compile(r"^care-[0-9a-f]{32}\.wav$")
SPEECH_TIMEOUT = 10.0
#: Slower than the prompts' pace: elders are called, not callers in a hurry.
WORDS_PER_MINUTE = 110
CENTRE = "一二三四九养老服务热线"


async def espeak_slow(text: str) -> bytes:
    """``text`` in Mandarin at a slow pace, 8 kHz WAV (espeak-ng into sox, waited on in a
    thread: the work is theirs, not the interpreter's)."""
    from dialplan.sounds import speak

    return await asyncio.to_thread(speak, text, words_per_minute=WORDS_PER_MINUTE)


def greeting_text(kind: CareKind, name: str, *, medicine: str = "", message: str = "") -> str:
    """What the call says (said twice if no key comes)."""
    hello = f"{name}您好，这里是{CENTRE}。"
    if kind is CareKind.WELLBEING:
        return hello + "我们打电话来问候您。如果您一切都好，请按1。如果您想找人说说话，请按2。"
    if kind is CareKind.MEDICATION:
        return hello + f"提醒您按时服用{medicine}。听到后请按1确认。"
    if kind is CareKind.BIRTHDAY:
        return hello + "今天是您的生日，祝您生日快乐，健康长寿！听到后请按1确认。"
    return hello + f"天气提醒：{message}。请注意安全。听到后请按1确认。"


THANKS_TEXT = "好的，谢谢您，祝您身体健康，再见。"
TRANSFER_TEXT = "好的，正在为您转接工作人员，请稍等。"


class CareSpeech:
    """Spoken files of the calls this process places, by unguessable name."""

    def __init__(self, speaker: Speaker | None) -> None:
        self.speaker = speaker
        self.files = SpokenFiles()

    async def make(self, call_id: str, text: str) -> str | None:
        """The file name saying ``text`` for ``call_id``, or None (the fallback stands in)."""
        if self.speaker is None:
            return None
        try:
            async with asyncio.timeout(SPEECH_TIMEOUT):
                wav = await self.speaker(text)
        except Exception as err:  # noqa: BLE001 - the recorded greeting stands in
            log.warning("care speech failed; the fallback greeting stands in", error=repr(err))
            return None
        return self.files.add(call_id, "care", wav)

    def drop(self, call_id: str) -> None:
        """The call ended: nothing of it is served any more."""
        self.files.drop(call_id)

    async def command(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """The ``care.speech`` command: a file by name, if this process holds it."""
        name = str(args.get("name", ""))
        if MEDIA_NAME.match(name) is None:
            raise TaskNotFound("no such spoken file", {})
        return wav_answer(self.files.get(name))


#: Where Asterisk fetches the care calls' spoken files.
CARE_MEDIA = MediaRoute(MEDIA_PATH, MEDIA_NAME, "care.speech", "care-speech")
