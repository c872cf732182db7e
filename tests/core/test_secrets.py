"""redact removes every value that looks like a secret, and leaves ordinary text alone (issue 15, items 7, 9)."""

from __future__ import annotations

import json

import pytest

from agent.core.secrets import redact

SECRETS = [
    ("OpenAI key", "key sk-proj-abcdefghijklmnop1234", "abcdefghijklmnop1234"),
    ("Anthropic key", "sk-ant-api03-abcdefghijklmnop", "api03-abcdefghijklmnop"),
    ("AWS access key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS secret pair", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("bearer", "Authorization: Bearer abc.def-ghi_jkl012345", "abc.def-ghi_jkl012345"),
    ("basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("password in URL", "http://user:t0ken-value@host:8080/v1", "t0ken-value"),
    ("GitHub token", "GITHUB=ghp_abcdefghijklmnopqrstuvwxyz012345", "ghp_abcdefghijklmnopqrstuvwxyz012345"),
    ("GitHub PAT", "github_pat_11ABCDEFG0abcdefghijklmnop", "github_pat_11ABCDEFG0abcdefghijklmnop"),
    ("Slack token", "xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"),
    ("Google key", "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234"),
    ("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjg"),
    ("password pair", "DB_PASSWORD=hunter22", "hunter22"),
    ("JSON pair", json.dumps({"api_key": "abc123secret"}), "abc123secret"),
    ("private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEpA"),
    (
        "private key in JSON",
        json.dumps({"k": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n-----END OPENSSH PRIVATE KEY-----"}),
        "b3BlbnNz",
    ),
]


@pytest.mark.parametrize(("label", "text", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_secret_looking_values_are_redacted(label: str, text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"prompt_tokens": 1234, "completion_tokens": 56, "max_tokens": 512}',
        "The secret of the lodestone is magnetite.",
        "https://example.com/docs/page?lang=en",
        "tokens: 12 · 3.4 s",
        "Basic understanding of the token limit comes first.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text
