"""The `email:` section of handoff.yml and its environment overrides."""

from __future__ import annotations

import pytest

from handoff.core.errors import ConfigError
from handoff.core.settings import EmailSettings, from_mapping, load_config


def test_email_is_off_by_default_and_the_resume_page_is_the_demo_store(tmp_path):
    config = load_config(tmp_path / "missing.yml", env={})
    assert config.email.enabled is False
    assert config.email.inbound_enabled is False
    assert config.email.resume_page_url == "http://127.0.0.1:5080/demo"
    assert from_mapping({"port": 6000}).email.resume_page_url == "http://127.0.0.1:6000/demo"
    assert from_mapping({"host": "0.0.0.0"}).email.resume_page_url == "http://127.0.0.1:5080/demo"


def test_the_section_is_read_from_the_file(tmp_path):
    path = tmp_path / "handoff.yml"
    path.write_text(
        "email:\n"
        "  smtp_host: smtp.example\n"
        "  smtp_port: 465\n"
        "  smtp_tls: true\n"
        "  from_address: help@shop.example\n"
        "  reply_to_address: replies@shop.example\n"
        "  resume_page_url: https://shop.example/help\n"
        "  link_ttl_days: 7\n"
    )
    email = load_config(path, env={}).email
    assert email.enabled and email.smtp_tls and email.smtp_port == 465
    assert email.replies_to == "replies@shop.example"
    assert email.resume_page_url == "https://shop.example/help"
    assert email.link_ttl_days == 7


def test_environment_variables_override_the_file(tmp_path):
    env = {
        "HANDOFF_SMTP_HOST": "mail.internal",
        "HANDOFF_SMTP_PORT": "2525",
        "HANDOFF_SMTP_USERNAME": "bot",
        "HANDOFF_SMTP_PASSWORD": "s3cret",
        "HANDOFF_SMTP_STARTTLS": "true",
        "HANDOFF_MAIL_FROM": "care@shop.example",
        "HANDOFF_INBOUND_EMAIL_SECRET": "x" * 20,
        "HANDOFF_RESUME_PAGE_URL": "https://shop.example/chat",
    }
    email = load_config(tmp_path / "missing.yml", env=env).email
    assert (email.smtp_host, email.smtp_port, email.smtp_username) == ("mail.internal", 2525, "bot")
    assert email.smtp_password == "s3cret" and email.smtp_starttls is True
    assert email.from_address == "care@shop.example" and email.inbound_enabled
    assert email.resume_page_url == "https://shop.example/chat"
    assert "s3cret" not in repr(email) and "x" * 20 not in repr(email)
    auto = load_config(tmp_path / "missing.yml", env={"HANDOFF_SMTP_STARTTLS": "auto"})
    assert auto.email.smtp_starttls is None


@pytest.mark.parametrize(
    "section,message",
    [
        ({"smtp_port": 0}, "smtp_port"),
        ({"smtp_port": "25"}, "smtp_port"),
        ({"smtp_tls": True, "smtp_starttls": True}, "exclude each other"),
        ({"from_address": "not an address"}, "from_address"),
        ({"from_address": ""}, "from_address"),
        ({"reply_to_address": "x@"}, "reply_to_address"),
        ({"from_name": "Evil\nBcc: all@example.com"}, "from_name"),
        ({"resume_page_url": "ftp://shop.example"}, "resume_page_url"),
        ({"resume_page_url": "https://shop.example/#x"}, "resume_page_url"),
        ({"link_ttl_days": 0}, "link_ttl_days"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"retry_base_seconds": -1}, "retry_base_seconds"),
        ({"smtp_timeout_seconds": 0}, "smtp_timeout_seconds"),
        ({"inbound_secret": "short"}, "inbound_secret"),
        ({"smtp_servr": "typo"}, "unknown email config keys"),
    ],
)
def test_bad_values_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping({"email": section})


def test_a_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="HANDOFF_SMTP_TLS"):
        load_config(tmp_path / "missing.yml", env={"HANDOFF_SMTP_TLS": "maybe"})


def test_the_section_must_be_a_mapping():
    with pytest.raises(ConfigError, match="email must be a mapping"):
        from_mapping({"email": ["smtp.example"]})


def test_defaults_are_valid():
    assert from_mapping({"email": {}}).email == EmailSettings()
