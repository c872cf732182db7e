"""read_file refuses dotfiles and secret files unless allowed, and tool output is redacted (issue 15, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.config import LoopSettings, Settings
from tools import builtins
from tools.registry import ToolContext, tool


def _context(root: Path, **loop: object) -> ToolContext:
    return ToolContext(settings=Settings(loop=LoopSettings(file_root=str(root), **loop)))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    for name in (".env", ".env.local", ".netrc", "id_rsa", "id_ed25519", "server.pem", ".git/config", "deploy.key"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("OPENAI_API_KEY=sk-live-abcdefghijklmnop\nDB_PASSWORD=hunter22\n")
    (folder / "notes.md").write_text("Polaris is the North Star.")
    return folder


@pytest.mark.parametrize(
    "path", [".env", ".env.local", ".netrc", "id_rsa", "id_ed25519", "server.pem", ".git/config", "deploy.key"]
)
async def test_read_file_refuses_secret_files(root: Path, path: str) -> None:
    result = await builtins.read_file.invoke({"path": path}, _context(root))
    assert not result.ok and "secret" in result.error and "read_file_allow" in result.error
    assert "hunter22" not in str(result.model_dump())


async def test_a_symlink_to_a_secret_file_is_refused_too(root: Path) -> None:
    (root / "innocent.txt").symlink_to(root / ".env")
    result = await builtins.read_file.invoke({"path": "innocent.txt"}, _context(root))
    assert not result.ok and "secret" in result.error


async def test_the_folder_listing_hides_dotfiles(root: Path) -> None:
    result = await builtins.read_file.invoke({"path": "."}, _context(root))
    assert not result.ok and ".env" not in result.error and "notes.md" in result.error


async def test_the_user_can_allow_a_pattern_and_the_values_are_still_redacted(root: Path) -> None:
    context = _context(root, read_file_allow=[".env"])
    result = await builtins.read_file.invoke({"path": ".env"}, context)
    assert result.ok
    assert "sk-live" not in result.output and "hunter22" not in result.output
    assert "OPENAI_API_KEY=***" in result.output and "DB_PASSWORD=***" in result.output
    assert not (await builtins.read_file.invoke({"path": ".netrc"}, context)).ok
    assert (await builtins.read_file.invoke({"path": "notes.md"}, _context(root))).ok


async def test_every_tool_output_is_redacted() -> None:
    @tool
    def leaky() -> dict:
        """Prints secrets, as programs do."""
        return {
            "env": "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
            "nested": ["token ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
            "url": "postgres://admin:s3cr3tpass@db.internal:5432/app",
        }

    result = await leaky.invoke({})
    text = result.text()
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "ghp_" not in text and "s3cr3tpass" not in text
    assert "postgres://admin:***@db.internal" in text
