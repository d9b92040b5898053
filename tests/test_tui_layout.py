"""80×24 first: on every list screen, each visible row's identifying cells (the application, the person, the name)
are shown whole — read from the rendered lines, not only from the table's data — while the other columns give way;
the details a narrow column cannot hold (an endpoint's URL, a person's e-mail, a test result) are shown whole
beside the list."""
from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.service import Service
from console.store import Store
from screens.app import make_app
from screens.fit import CutLine, FitTable, give_way
from tests.plugins.tui import screen_text, settle, text_of

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


def test_give_way_keeps_each_columns_own_floor():
    # time (11) and status (7) declared whole; the action gives way first, then the rest right to left
    assert give_way(30, [11, 13, 7], [1], floors=[11, 6, 7]) == [11, 12, 7]
    assert give_way(20, [11, 13, 7], [1, 2, 0], floors=[11, 6, 7]) == [11, 6, 7]  # floors over the room: scroll
    assert give_way(20, [11, 4, 7], [1], floors=[11, 6, 7]) == [11, 4, 7]  # shorter than its floor: its content


def whole_in_view(table: FitTable, labels: tuple[str, ...]) -> list[str]:
    """The cells of `labels` in the rows in view that are not drawn whole (empty when all are)."""
    indexes = [i for i, c in enumerate(table.ordered_columns) if c.label.plain in labels]
    assert len(indexes) == len(labels)
    cut = []
    for row, line in rendered_rows(table):
        cells = table.get_row_at(row)
        cut += [f"row {row}: {cells[i]!s} in {line!r}" for i in indexes if str(cells[i]) not in line]
    return cut


async def test_reports_columns_fit_the_rows_in_view_not_an_outlier_further_down(long_names_home):
    """An event of the person with the 33-character userName is loaded but out of view: time, action and status
    are whole on the page; scrolled into view, her name is whole and the line under the table shows what gave way."""
    home, seed = long_names_home
    await seed()
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        table = app.screen.query_one("#events", FitTable)
        people = [str(table.get_row_at(n)[2]) for n in range(table.row_count)]
        assert LONG_USER in people
        table.focus()
        # a page without her: the other end of the list from her events
        far = table.row_count - 1 if people.index(LONG_USER) < table.row_count // 2 else 0
        table.move_cursor(row=far, animate=False)
        await settle(pilot)
        assert LONG_USER not in [str(table.get_row_at(row)[2]) for row, _ in rendered_rows(table)]
        assert not whole_in_view(table, ("UTC", "action", "status"))
        assert not text_of(app.screen.query_one("#events-cut", CutLine)).strip()  # nothing cut: nothing to say
        # her event highlighted: her name whole, and every cell the table cut is on the line under it, whole
        table.move_cursor(row=people.index(LONG_USER), animate=False)
        await settle(pilot)
        assert assert_identifying_cells_whole(app.screen) > 0
        cut = table.cut_cells(table.cursor_row)
        assert cut, "her row fits whole at 80 columns: nothing shows the cut line working"
        line = text_of(app.screen.query_one("#events-cut", CutLine))
        for label, value in cut:
            assert f"{label}: {value}" in line
        assert line in screen_text(app)
        # back to a page without her: the columns come back whole
        table.move_cursor(row=far, animate=False)
        await settle(pilot)
        assert not whole_in_view(table, ("UTC", "action", "status"))


async def test_a_fit_table_measures_only_the_rows_in_view_at_100k_rows():
    """100,000 rows with one outlier in the middle: the columns fit the page in view; the outlier in view is whole."""

    class Big(App[None]):
        def compose(self) -> ComposeResult:
            table = FitTable(id="big", cursor_type="row", identifying=("person",), gives_way=("action",),
                             floors={"status": 7})
            for label in ("person", "action", "status"):
                table.add_column(label, key=label)
            yield table
            yield CutLine(table, id="big-cut")

    app = Big()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(FitTable)
        outlier = 50_000
        for n in range(100_000):
            table.add_row("x" * 30 if n == outlier else f"p{n % 97}", "member_remove_local", "success")
        await pilot.pause()
        measured = []
        original = table.cell_widths

        def counting(row_index: int) -> list[int]:
            measured.append(row_index)
            return original(row_index)

        table.cell_widths = counting  # type: ignore[method-assign]
        table.move_cursor(row=10, animate=False)
        await pilot.pause()
        table.fit()
        assert measured and len(set(measured)) <= 12  # the page, not the 100k rows
        widths = {c.label.plain: c.width for c in table.ordered_columns}
        assert widths["status"] == 7 and widths["person"] < 30
        table.move_cursor(row=outlier, animate=False)
        await pilot.pause()
        await pilot.pause()
        assert {c.label.plain: c.width for c in table.ordered_columns}["person"] == 30
        assert "x" * 30 in table.render_line(table.header_height + outlier - round(table.scroll_y)).text
        assert ("action", "member_remove_local") in table.cut_cells(outlier)
        assert "action: member_remove_local" in text_of(app.query_one("#big-cut", CutLine))
