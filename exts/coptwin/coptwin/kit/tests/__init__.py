"""Kit-side tests (omni.kit.test.AsyncTestCase); they need a real Kit.

Run them with Kit's test runner, e.g. from a kit-app-template build:
``./repo.sh test`` or ``kit --ext-folder exts --enable coptwin --enable omni.kit.test
--/exts/omni.kit.test/testExts/0='coptwin' --exec "..."``; see docs/install-omniverse.md.
"""

from .test_extension import *  # noqa: F403
from .test_notes import *  # noqa: F403
from .test_window import *  # noqa: F403
