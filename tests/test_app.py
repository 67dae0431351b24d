"""The wiring: a configuration from file and environment, and the URLs it gives feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedgen.app import App
from feedgen.errors import ConfigError, StateError
from feedgen.model import Feed, SubjectKind
from feedgen.tokens import new_token

FEED = Feed(3, new_token(), SubjectKind.USER, 42, page_token=new_token())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "crm.sqlite"}"\n'
        f'[storage]\nurl = "file://{tmp_path / "feeds"}"\n'
        '[publish]\npublic_base_url = "https://cal.tesoro.example/feeds/"\n',
        encoding="utf-8",
    )
    return path


def test_the_file_comes_from_the_environment_when_not_given(config: Path) -> None:
    app = App.from_sources(None, {"FEEDGEN_CONFIG": str(config)})
    assert app.config.publish.public_base_url == "https://cal.tesoro.example/feeds"


def test_the_environment_overrides_the_file(config: Path) -> None:
    app = App.from_sources(str(config), {"FEEDGEN_PUBLISH_REFRESH_MINUTES": "15"})
    assert app.config.publish.refresh_minutes == 15


def test_a_bad_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        App.from_sources(str(tmp_path / "missing.toml"), {})


def test_feed_and_page_urls_hold_their_tokens(config: Path) -> None:
    app = App.from_sources(str(config), {})
    assert app.feed_url(FEED) == f"https://cal.tesoro.example/feeds/{FEED.token}.ics"
    assert app.page_url(FEED) == f"https://cal.tesoro.example/feeds/{FEED.page_token}.html"


def test_a_local_store_says_where_the_file_lies(config: Path, tmp_path: Path) -> None:
    app = App.from_sources(str(config), {})
    assert app.local_path(FEED) == str(tmp_path / "feeds" / f"{FEED.token}.ics")
    s3 = App.from_sources(str(config), {"FEEDGEN_STORAGE_URL": "s3://bucket/feeds"})
    assert s3.local_path(FEED) is None


def test_a_builder_needs_feedgens_tables(config: Path) -> None:
    from feedgen.crm import tables

    app = App.from_sources(str(config), {})
    tables.metadata.create_all(app.engine)
    with pytest.raises(StateError, match="run `feedgen db upgrade`"):
        app.builder()
    app.close()
