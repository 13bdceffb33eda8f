"""Per-incident speech: spoken in Mandarin, served by unguessable name only, gone at the end."""

from __future__ import annotations

import io
import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ari_apps.sos.briefing import (
    IncidentSpeech,
    briefing_command,
    briefing_text,
    confirm_text,
    listener_name,
)
from ari_apps.sos.directory import ElderCard
from ari_apps.sos.media_http import install_media
from ari_apps.sos.speech import SpeechQueue
from callcenter import media
from callcenter.bus import MemoryBus
from callcenter.commands import CommandPath
from callcenter.media import media_base_url
from callcenter.settings import Settings, SettingsError, load_settings
from dialplan.sounds import speak
from tests.sos.conftest import quick_speech
from webui.auth import PUBLIC_PREFIXES

CARD = ElderCard(elder_id=1, name="王秀英", gender="F", age=82, address="3号楼2单元501",
                 area_path="/1/", area_names=["南开区", "长虹街道"], lives_alone=True,
                 disabled=False, health_notes="高血压", status="active")


@dataclass
class Conference:
    speech: IncidentSpeech


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient, IncidentSpeech, dict[str, Conference]]]:
    commands = CommandPath(MemoryBus())
    speech = IncidentSpeech("20260101000000abcdef", SpeechQueue(quick_speech, 1))
    conferences = {speech.incident_id: Conference(speech)}
    commands.handle("sos.briefing", lambda args: briefing_command(conferences, args))
    await commands.start()
    app = web.Application()
    install_media(app, commands)
    async with TestClient(TestServer(app)) as client:
        yield client, speech, conferences
    await commands.close()


def test_the_briefing_says_who_how_old_where_and_what_matters() -> None:
    text = briefing_text(CARD, "13900001111")
    for said in ("王秀英", "女", "82岁", "长虹街道", "3号楼2单元501", "独居", "高血压", "按零重听"):
        assert said in text, said
    assert "幺三九" in briefing_text(None, "13900001111")  # unknown: their number, digit by digit
    assert confirm_text(CARD).endswith("王秀英按了紧急呼叫，按1加入通话。")


async def test_a_file_is_served_by_its_name_only_and_not_after_the_incident(
    served: tuple[TestClient, IncidentSpeech, dict[str, Conference]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, speech, conferences = served
    name = await speech.prepare("brief", briefing_text(CARD, ""))
    assert name is not None and name.startswith(f"{speech.incident_id}-brief-")
    response = await client.get(f"/media/briefings/{name}")
    assert response.status == 200 and response.content_type == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    with wave.open(io.BytesIO(await response.read())) as wav:
        assert wav.getframerate() == 8000
    assert any(f"/media/briefings/{name}".startswith(p) for p in PUBLIC_PREFIXES)  # Asterisk: no login
    # Each listener fetches a URL of its own (Asterisk's media cache fails concurrent first
    # fetches of one URL): the same file, by its token.
    for listener in (f"{speech.incident_id}-k1", f"{speech.incident_id}-e0w0a1b2c3d"):
        response = await client.get(f"/media/briefings/{listener_name(name, listener)}")
        assert response.status == 200 and await response.read() == speech.files[name]

    wrong = name.replace(name[-8:-4], "0000" if name[-8:-4] != "0000" else "1111")
    for path in (f"/media/briefings/{wrong}", "/media/briefings/", "/media/briefings/x.wav",
                 f"/media/briefings/{name}/..", "/media/briefings/../../etc/passwd"):
        assert (await client.get(path)).status == 404, path

    monkeypatch.setattr(media, "MEDIA_WITHIN", 0.2)  # nobody else hosts it: no wait
    speech.close()
    del conferences[speech.incident_id]  # the incident ended
    assert (await client.get(f"/media/briefings/{name}")).status == 404
    assert not speech.files


def test_the_media_base_url_is_the_setting_or_the_consoles_address(settings: Settings) -> None:
    assert media_base_url(settings.model_copy(update={"web_bind": "0.0.0.0:8080"})) == (
        "http://127.0.0.1:8080")
    assert media_base_url(settings.model_copy(
        update={"media_base_url": "https://console.example.org/"})) == (
        "https://console.example.org")


@pytest.mark.parametrize("value", ["ftp://x", "console:8080", "http://x/?a=1"])
def test_a_media_base_url_that_asterisk_cannot_fetch_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLCENTER_MEDIA_BASE_URL", value)
    with pytest.raises(SettingsError, match="CALLCENTER_MEDIA_BASE_URL"):
        load_settings()


@pytest.mark.parametrize("value", ["2", "121"])
def test_the_confirm_time_is_bounded(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_SOS_CONFIRM_SECONDS", value)
    with pytest.raises(SettingsError, match="CALLCENTER_SOS_CONFIRM_SECONDS"):
        load_settings()


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng or sox not installed")
def test_the_briefing_is_spoken_as_asterisk_wav() -> None:
    with wave.open(io.BytesIO(speak(briefing_text(CARD, "")))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 8000 * 5  # seconds of speech, not a click
