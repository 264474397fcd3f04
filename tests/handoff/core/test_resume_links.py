"""Resume links: signed, their own audience, and refused when tampered with or expired."""

from __future__ import annotations

import time

import jwt
import pytest

from handoff.core.customer_tokens import CustomerTokenError, CustomerTokens
from handoff.core.errors import AuthError
from handoff.core.resume_links import ResumeLinkError, ResumeLinkExpired, ResumeLinks

SECRET = "resume-link-test-secret-0123456789abcdef"
PAGE = "https://shop.example/help?x=1"


def links(**kwargs):
    return ResumeLinks(SECRET, page_url=PAGE, ttl_seconds=3600, **kwargs)


def token_of(url):
    page, _, fragment = url.partition("#")
    assert page == PAGE
    assert fragment.startswith("resume=")
    return fragment[len("resume=") :]


def test_round_trip_with_and_without_a_ticket():
    made = links()
    assert made.verify(token_of(made.url("conv1", "T-1042"))) == ("conv1", "T-1042")
    assert made.verify(token_of(made.url("conv2"))) == ("conv2", None)
    claims = jwt.decode(made.token("conv1", "T-1"), SECRET, algorithms=["HS256"], audience="resume")
    assert claims["sub"] == "conv1" and claims["tkt"] == "T-1"
    assert claims["exp"] - claims["iat"] == 3600


def test_the_link_carries_the_token_in_the_fragment_only():
    url = links().url("conv1", "T-7")
    assert "?x=1#resume=" in url  # the page's own query stays; the token never reaches a server


def test_a_page_url_with_a_fragment_loses_it():
    made = ResumeLinks(SECRET, page_url="https://shop.example/#top", ttl_seconds=60)
    assert made.url("c1").startswith("https://shop.example/#resume=")


def test_expired_links_are_refused_with_their_own_code():
    old = links(clock=lambda: time.time() - 7200)
    with pytest.raises(ResumeLinkExpired) as caught:
        links().verify(old.token("conv1"))
    assert caught.value.code == "resume_link_expired"
    assert isinstance(caught.value, AuthError)


def tampered(token):
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    return ".".join([header, payload, flipped])


@pytest.mark.parametrize(
    "token",
    ids=[
        "none",
        "empty",
        "garbage",
        "tampered",
        "other-key",
        "widget-token",
        "no-audience",
        "bad-id",
    ],
    # Made when the test runs, not at collection: CI runs this file many minutes after
    # collecting it, and a token made then would have expired (a different refusal).
    argvalues=[
        lambda: None,
        lambda: "",
        lambda: "not.a.jwt",
        lambda: tampered(links().token("conv1")),
        lambda: ResumeLinks("another-secret-" * 3, page_url=PAGE, ttl_seconds=60).token("conv1"),
        lambda: CustomerTokens(SECRET).issue("conv1").token,
        lambda: jwt.encode({"sub": "conv1", "exp": time.time() + 600}, SECRET, algorithm="HS256"),
        lambda: jwt.encode(
            {"sub": "a b", "aud": "resume", "exp": time.time() + 600}, SECRET, algorithm="HS256"
        ),
    ],
)
def test_anything_else_is_an_invalid_resume_link(token):
    with pytest.raises(ResumeLinkError) as caught:
        links().verify(token())
    assert caught.value.code == "invalid_resume_link"


def test_a_resume_token_is_no_widget_token():
    with pytest.raises(CustomerTokenError):
        CustomerTokens(SECRET).verify(links().token("conv1"))


async def test_a_resume_token_is_no_csr_token(redis_client):
    from handoff.core.auth import Auth

    with pytest.raises(AuthError):
        await Auth(redis_client, SECRET).verify(links().token("conv1"))


@pytest.mark.parametrize("conv,ticket", [("bad id", None), ("c1", "bad ticket id")])
def test_unusable_ids_are_refused_when_making_a_link(conv, ticket):
    with pytest.raises(ValueError):
        links().url(conv, ticket)


@pytest.mark.parametrize("page", ["", "ftp://x/y", "/demo"])
def test_the_page_must_be_a_web_page(page):
    with pytest.raises(ValueError):
        ResumeLinks(SECRET, page_url=page, ttl_seconds=60)
