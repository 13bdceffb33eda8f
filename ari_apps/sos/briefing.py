"""What responders hear, spoken per incident: 120's briefing, the others' "press 1 to join".

120 is bridged the moment it answers and hears, whispered to its leg alone, who is in
trouble, how old, where, and what the crew must know; kin, the doctor and the social
worker first hear the elder's name and "press 1 to join". Both are spoken in Mandarin for
each incident by ``dialplan.sounds.speak`` (espeak-ng into sox, processes of their own,
bounded by ``speech.SpeechQueue``), held in memory by the process that hosts the
conference, and fetched by Asterisk over HTTP
(``sound:<CALLCENTER_MEDIA_BASE_URL>/media/briefings/<name>``, res_http_media_cache,
held and served as ``callcenter.media`` says); it is dropped when the incident ends. A leg
that needs its prompt before it is made hears the generic one at once (the speech is then
*late*: a later leg, or 120's repeat key, has it once it is made).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ari_apps.sos.directory import ElderCard
from ari_apps.sos.exceptions import BriefingNotFound
from ari_apps.sos.speech import SpeechQueue, SpeechRefused
from callcenter.logs import get_logger
from callcenter.media import SpokenFiles, wav_answer

log = get_logger(__name__)

#: Pressed by kin, the doctor or the social worker to join the elder's call.
CONFIRM_KEY = "1"
#: Pressed by 120 to hear the briefing again.
REPEAT_KEY = "0"
SPEECH_TIMEOUT = 10.0
MEDIA_PATH = "/media/briefings/"
#: ``<incident>-<kind>-<token>.wav``: the incident routes a fetch to the process hosting it.
#: A listener's own name may follow the token (``…-<token>-k1.wav``): Asterisk 22's HTTP
#: media cache fails all but one of several first fetches of one URL at the same moment
#: (seen on 22.10.1 with four legs asked at once), so every leg fetches a URL of its own.
MEDIA_NAME = re.compile(r"^(\w+?)-(brief|confirm)-([0-9a-f]{32})(?:-(\w+))?\.wav$")


def file_name(name: str) -> str | None:
    """The stored file a served name stands for (without its listener), or None."""
    found = MEDIA_NAME.match(name)
    return None if found is None else f"{found.group(1)}-{found.group(2)}-{found.group(3)}.wav"


def listener_name(name: str, listener: str) -> str:
    """The URL name of a stored file for one listener (a leg or a snoop channel)."""
    return f"{name.removesuffix('.wav')}-{listener.rpartition('-')[2]}.wav"


_GENDER = {"M": "男", "F": "女"}


class HasSpeech(Protocol):
    """A conference, as far as serving its spoken files goes."""

    @property
    def speech(self) -> IncidentSpeech: ...


def spoken_digits(number: str) -> str:
    """A phone number read digit by digit (幺 for 1, as on the phone in China)."""
    return "".join("零幺二三四五六七八九"[int(c)] if c.isdigit() else c for c in number)


def briefing_text(card: ElderCard | None, caller_number: str) -> str:
    """120's briefing: who, age, where, what matters; an unknown caller by their number."""
    head = "一二三四九养老服务热线紧急呼叫。"
    if card is None:
        number = spoken_digits(caller_number) if caller_number else "未知"
        return f"{head}呼叫人身份未能识别，来电号码{number}。按零重听。"
    parts = [f"呼叫人{card.name}，{_GENDER.get(card.gender, '')}，{card.age}岁。",
             f"住址：{' '.join(card.area_names)}，{card.address}。"]
    if card.lives_alone:
        parts.append("独居。")
    if card.disabled:
        parts.append("失能。")
    if card.health_notes:
        parts.append(f"健康情况：{card.health_notes}。")
    return head + "".join(parts) + "按零重听。"


def confirm_text(card: ElderCard | None) -> str:
    """What kin, the doctor and the social worker hear before they join."""
    who = card.name if card is not None else "您关心的老人"
    return f"一二三四九紧急呼叫：{who}按了紧急呼叫，按1加入通话。"


@dataclass
class IncidentSpeech:
    """One incident's spoken files: made on demand, served by name, dropped at the end."""

    incident_id: str
    queue: SpeechQueue
    files: SpokenFiles = field(default_factory=SpokenFiles)
    _tasks: dict[str, tuple[str, asyncio.Task[str | None]]] = field(default_factory=dict)
    _late: set[str] = field(default_factory=set)

    def prepare(self, kind: str, text: str) -> asyncio.Task[str | None]:
        """The making of ``kind`` saying ``text``: its file name, or None if it failed."""
        current = self._tasks.get(kind)
        if current is not None and current[0] == text:
            return current[1]
        task = asyncio.get_running_loop().create_task(
            self._make(kind, text), name=f"sos-{self.incident_id}-{kind}")
        self._tasks[kind] = (text, task)
        return task

    def text(self, kind: str) -> str | None:
        """What ``kind`` says (or is being made to say)."""
        current = self._tasks.get(kind)
        return current[0] if current is not None else None

    def ready(self, kind: str) -> str | None:
        """The file name of ``kind`` if it is made (whatever the text then was)."""
        current = self._tasks.get(kind)
        if current is None or not current[1].done() or current[1].cancelled():
            return None
        return current[1].result()

    def late(self, kind: str) -> None:
        """A leg needed ``kind`` before it was made and heard the generic prompt instead:
        under overload, its making is dropped if it has not started."""
        self._late.add(kind)

    async def _make(self, kind: str, text: str) -> str | None:
        try:
            async with asyncio.timeout(SPEECH_TIMEOUT):
                wav = await self.queue.say(text, late=lambda: kind in self._late)
        except SpeechRefused as err:
            log.info("sos speech not made; the generic prompt stands in", kind=kind,
                     reason=str(err))
            return None
        except Exception as err:  # noqa: BLE001 - the generic prompt stands in for it
            log.warning("sos speech failed; the generic prompt stands in", kind=kind,
                        error=repr(err))
            return None
        return self.files.add(kind, f"{self.incident_id}-{kind}", wav)

    def close(self) -> None:
        """The incident ended: nothing of it is served any more."""
        for _, task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self.files.clear()


async def briefing_command(conferences: Mapping[str, HasSpeech], args: dict[str, Any]
                           ) -> dict[str, Any] | None:
    """The ``sos.briefing`` command: a spoken file by name, if its incident runs here."""
    stored = file_name(str(args.get("name", "")))
    if stored is None:
        raise BriefingNotFound("no such briefing", {})
    conference = conferences.get(stored.partition("-")[0])
    if conference is None:
        return None  # another process hosts it, or nobody: the caller times out
    wav = conference.speech.files.get(stored)
    if wav is None:
        raise BriefingNotFound("no such briefing", {})
    return wav_answer(wav)
