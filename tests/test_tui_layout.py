"""80×24 first: on every list screen, each visible row's identifying cells (the application, the person, the name)
are shown whole — read from the rendered lines, not only from the table's data — while the other columns give way;
the details a narrow column cannot hold (an endpoint's URL, a person's e-mail, a test result) are shown whole
beside the list."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from console.service import Service
from console.store import Store
from screens.app import make_app
from screens.fit import FitTable, give_way
from tests.plugins.tui import screen_text, settle

LONG_APP = "bitbucket-members-cloud"
LONG_NAME = "Maximiliana Vandenberghe-Oyelaran Junior"  # 40 characters
LONG_USER = "maximiliana.vandenberghe-oyelaran"
assert len(LONG_NAME) == 40


def rendered_rows(table: FitTable) -> list[tuple[int, str]]:
    """(row index, the text the table draws for it) for every row in view."""
    first = round(table.scroll_y)
    shown = table.scrollable_content_region.height - table.header_height
    return [(row, table.render_line(table.header_height + row - first).text)
            for row in range(first, min(table.row_count, first + shown))]


def assert_identifying_cells_whole(screen) -> int:  # type: ignore[no-untyped-def]
    """Every FitTable on the screen: each identifying cell of each row in view is drawn whole. Returns how many."""
    checked = 0
    for table in screen.query(FitTable):
        if not table.display or not table.row_count:
            continue
        columns = [i for i, c in enumerate(table.ordered_columns) if table.is_identifying(c)]
        assert columns, f"#{table.id} has no identifying column"
        for row, line in rendered_rows(table):
            cells = table.get_row_at(row)
            for index in columns:
                value = getattr(cells[index], "plain", str(cells[index]))
                assert value in line, f"#{table.id} row {row}: {value!r} is cut in {line!r}"
                checked += 1
    return checked


@pytest.fixture
def long_names_home(tui_scim_home):
    """The sample home synced to the SCIM sandbox, plus an application with a long name, a person with a 40-character
    display name, and a deprovision waiting (she left the group the policy gives)."""

    async def seed() -> None:
        with Store.open(tui_scim_home) as store:
            svc = Service(store, operator="tester")
            svc.add_app("atlassian", LONG_APP, {"base_url": "https://api.atlassian.com/scim/directory/d-1"},
                        {"token": "env:IDCONSOLE_TUI_SCIM_TOKEN"})
            svc.add_user(employeeId="E99999", userName=LONG_USER, displayName=LONG_NAME,
                         email=f"{LONG_USER}@northwind.example")
            svc.change_members("vpn-users", [LONG_USER], add=True)
            svc.create_policy("vpn-policy", "bitbucket-cloud", ["vpn-users"])
            svc.create_policy("members-cloud-policy", LONG_APP, ["vpn-users"])
            await svc.apply(await svc.plan("bitbucket-cloud"))
            svc.change_members("vpn-users", [LONG_USER], add=False)

    return tui_scim_home, seed


VIEWS = {  # screen → keys that reach it
    "home": ("1",), "users": ("2",), "person": ("2", "slash", *LONG_USER, "enter", "enter"), "groups": ("3",),
    "policies": ("4",), "apps": ("5",), "reports": ("7",), "deletions": ("8",),
}


@pytest.mark.parametrize("view", list(VIEWS))
async def test_identifying_cells_are_whole_at_80_columns(long_names_home, view):
    home, seed = long_names_home
    await seed()
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in VIEWS[view]:
            await pilot.press(key)
            await settle(pilot)
        assert assert_identifying_cells_whole(app.screen) > 0
        text = screen_text(app)
        if view in ("home", "apps", "policies", "person", "deletions"):
            assert LONG_APP in text or view == "deletions"
        if view == "person":
            assert LONG_NAME in text and f"{LONG_USER}@northwind.example" in text
        if view in ("reports", "deletions"):
            assert LONG_USER in text
        if view == "deletions":  # the why column gives way; the detail under the list says it whole
            reason = app.screen.pending[0].reason
            assert len(reason) > 20 and f"why: {' '.join(reason.split())}" in " ".join(text.split())


async def test_the_other_columns_give_way_and_come_back_when_there_is_room(long_names_home):
    home, seed = long_names_home
    await seed()
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        table = app.screen.query_one("#apps", DataTable)
        narrow = {c.label.plain: c.width for c in table.ordered_columns}
        assert narrow["name"] == len(LONG_APP)
        await pilot.resize_terminal(60, 24)
        await settle(pilot)
        assert assert_identifying_cells_whole(app.screen) > 0
        squeezed = {c.label.plain: c.width for c in table.ordered_columns}
        assert squeezed["name"] == len(LONG_APP) and squeezed["kind"] < narrow["kind"]
        await pilot.resize_terminal(120, 24)
        await settle(pilot)
        wide = {c.label.plain: c.width for c in table.ordered_columns}
        assert wide["kind"] == narrow["kind"] and wide["last test"] >= narrow["last test"]


def test_give_way_shrinks_in_order_down_to_a_floor_and_keeps_short_content():
    assert give_way(30, [10, 10, 10]) == [10, 10, 10]
    assert give_way(25, [10, 10, 10]) == [10, 9, 6]  # right to left by default, each down to its floor first
    assert give_way(25, [10, 10, 10], [0, 1, 2]) == [6, 9, 10]
    assert give_way(12, [10, 3, 10], floor=4) == [5, 3, 4]
    assert give_way(12, [10, 3, 10]) == [6, 3, 6]  # the default floor: 6 cells (the table then scrolls)
    assert give_way(0, [10, 3], floor=4) == [4, 3]  # never below the floor (the table then scrolls)


async def test_the_app_forms_long_label_wraps_under_itself_instead_of_running_into_its_field(long_names_home):
    home, seed = long_names_home
    await seed()
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "e")
        await settle(pilot)
        app.screen.query_one("#f-allow_insecure").focus()
        app.screen.query_one("#row-allow_insecure").scroll_visible(animate=False)
        await settle(pilot)
        lines = screen_text(app).splitlines()
        first = next(n for n, line in enumerate(lines) if "Allow secrets over" in line)
        assert "plain HTTP/LDAP" in lines[first + 1]  # the rest of the label on the next line, not cut by the field


async def test_the_inbound_screen_names_its_endpoints_whole_and_shows_the_highlighted_url(tui_home, bb_app, with_service):
    with_service(tui_home, lambda svc: svc.add_app("bitbucket", bb_app.name, dict(bb_app.settings),
                                                   dict(bb_app.secrets)))
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "b")
        await settle(pilot)
        assert assert_identifying_cells_whole(app.screen) > 0
        table = app.screen.query_one("#endpoints", DataTable)
        table.focus()
        table.move_cursor(row=1)
        await settle(pilot)
        endpoint = app.screen.endpoints[1]
        assert endpoint.url.endswith("/permissions")
        assert f"GET {endpoint.url}" in screen_text(app)  # whole, where the url column gave way
        assert "Mapping 'Bitbucket default mapping'" in screen_text(app)
