"""The Asterisk 22 configuration the product needs, rendered from settings and directory.

``render_config`` turns :class:`~callcenter.settings.Settings` and a
:class:`~dialplan.directory.Directory` into the text of http.conf, ari.conf,
manager.conf, pjsip.conf, extensions.conf, queues.conf, cdr.conf and
cdr_manager.conf;
``write_config`` writes them. The command line is ``callcenter dialplan render``.
"""

from __future__ import annotations

from dialplan.directory import Directory, example_directory, load_directory
from dialplan.exceptions import DialplanError, DirectoryError, SettingsMismatchError
from dialplan.render import CONFIG_FILES, render_config, write_config

__all__ = [
    "CONFIG_FILES",
    "DialplanError",
    "Directory",
    "DirectoryError",
    "SettingsMismatchError",
    "example_directory",
    "load_directory",
    "render_config",
    "write_config",
]
