"""Run the Python examples of one documentation page, in order, each in a fresh namespace.

Usage: ``python run_blocks.py BLOCKS.json`` where the file holds
``[{"where": "docs/x.md:12", "code": "...", "pytest": false}, ...]``.  The
caller (``test_examples.py``) points ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``
at a MockServer and sets the API keys.  A block that defines ``test_*``
functions is a test module: it is run with pytest (pytest-asyncio in auto mode),
as a reader would run it.  Exits non-zero, naming the block, at the first failure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path


def run_as_script(where: str, code: str) -> None:
    namespace = {"__name__": "__main__", "__file__": where}
    exec(compile(code, where, "exec"), namespace)


def run_with_pytest(where: str, code: str, n: int) -> int:
    import pytest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"test_doc_example_{n}.py"  # pytest caches modules by name
        path.write_text(code)
        ini = Path(tmp) / "pytest.ini"
        ini.write_text(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
            "filterwarnings = error\n"
        )
        # Only the plugin the example needs: loading every installed one takes seconds.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        args = [str(path), "-q", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
        args += ["-c", str(ini), "--rootdir", tmp]
        return int(pytest.main(args))


def main() -> int:
    blocks = json.loads(Path(sys.argv[1]).read_text())
    for n, block in enumerate(blocks):
        where, code = block["where"], block["code"]
        print(f"--- {where}", flush=True)
        if block["pytest"]:
            status = run_with_pytest(where, code, n)
            if status != 0:
                print(f"example failed: {where} (pytest exit status {status})", file=sys.stderr)
                return 1
            continue
        try:
            run_as_script(where, code)
        except BaseException:
            traceback.print_exc()
            print(f"example failed: {where}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
