"""Bench: `idconsole users import FILE --json` of 100k people, the whole process as an operator waits for it,
against the floor of a process that only reads the same file and writes the same documents with plain
TinyDB + orjson, measured in the same run.

    python bench/import_people.py [--people 100000] [--repeat 3] [--compare DIR] [--cases new,same,1k,json]

Cases, each a whole process (`python -m console users import … --json`) on a copy of its home:
  new    a 100k-person CSV into an empty home (every person created and recorded);
  json   the same people as a .json file into an empty home;
  same   the same CSV again into the home it made (nothing changes);
  1k     a CSV where 1k of the 100k have a new title, into that home (1k updated).
The floor reads the CSV with csv.DictReader and writes one document a row with TinyDB (orjson storage, one
write): what no import of that file can go under. Prints the best wall time of `--repeat` runs (interleaved, so
that load hits every case alike), the CPU time (user + system, less disturbed by load), the max RSS, and the
ratio to the floor. Targets (issue 16): the new import <= 15 s, RSS <= 500 MB.

`--compare DIR` also runs the import cases with the code of another checkout DIR (e.g. `git worktree add DIR
main`, or `git archive main | tar -x -C DIR`) on copies of the same homes: before and after in the same run. Stops by itself and removes what it wrote.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
GIVEN = ["Zoë", "Seán", "小龙", "Ñúñez", "Anna", "Jörg", "Ольга", "Mariam", "Kenji", "Aoife", "Łukasz", "Chloé"]
FAMILY = ["Ångström", "O'Brien", "李", "Ibáñez", "Smith", "Müller", "Иванова", "Haddad", "Sato", "Murphy", "Wójcik"]
DEPTS = ["Sales", "Engineering", "Finance", "HR", "Support", "Legal", "Marketing", "Operations"]
COLUMNS = ["employeeId", "userName", "givenName", "familyName", "displayName", "email", "department", "title",
           "manager", "status"]

FLOOR = """
import csv, sys, orjson
from tinydb import TinyDB
from tinydb.storages import Storage
class S(Storage):
    def __init__(self, path): self.path = path
    def read(self): return None
    def write(self, data):
        with open(self.path, "wb") as f:
            f.write(orjson.dumps(data)); f.flush(); __import__("os").fsync(f.fileno())
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
docs = [{"employeeId": r["employeeId"], "userName": r["userName"], "givenName": r["givenName"],
         "familyName": r["familyName"], "displayName": r["displayName"], "emails": [r["email"]],
         "department": r["department"], "title": r["title"], "manager": r["manager"], "status": r["status"]}
        for r in rows]
db = TinyDB(sys.argv[2], storage=S)
db.table("users").insert_multiple(docs)
"""
REINDEX = "import sys; from console.store import Store; Store.open(sys.argv[1]).close()"


def people_rows(n: int, retitled: int = 0) -> list[dict[str, str]]:
    """n people; every third is a manager, the others report to the manager before them (some to one later in
    the file); `retitled` people spread over the file get a new title."""
    rnd = random.Random(1)
    rows = []
    step = n // retitled if retitled else 0
    for i in range(n):
        given, family = rnd.choice(GIVEN), rnd.choice(FAMILY)
        manager = "" if i % 3 == 0 else f"E{(i // 3) * 3 + (3 if i % 7 == 0 and i + 3 < n else 0):07d}"
        title = "Engineer" if i % 3 else "Manager"
        if step and i % step == step // 2:
            title = "Principal " + title
        rows.append({"employeeId": f"E{i:07d}", "userName": f"u{i:07d}", "givenName": given, "familyName": family,
                     "displayName": f"{given} {family}", "email": f"u{i:07d}@example.com",
                     "department": rnd.choice(DEPTS), "title": title, "manager": manager, "status": "active"})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def run_measured(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, bytes]:
    """Wall seconds, CPU seconds (user + system), max RSS (MB) and stdout of one process (its output goes to
    files, so that wait4 reaps it and reports its own usage)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{command} failed ({process.returncode}): {err.read().decode()[-2000:]}")
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, out.read()


def fresh_copy(source: Path | None, dest: Path, env: dict[str, str]) -> None:
    """`dest` empty, or a copy of the home `source` whose state index is written again (untimed): the index
    names the inode of the state it describes, and a copy's is another."""
    shutil.rmtree(dest, ignore_errors=True)
    if source is None:
        dest.mkdir(mode=0o700)
    else:
        shutil.copytree(source, dest)
        subprocess.run([sys.executable, "-c", REINDEX, str(dest)], env=env, cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="also run the imports with the code of the checkout DIR (before/after in one run)")
    parser.add_argument("--cases", default="new,json,same,1k", help="which cases (comma-separated)")
    args = parser.parse_args()
    wanted = args.cases.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="idconsole-bench-import-"))
    try:
        rows = people_rows(args.people)
        people_csv, people_json, retitled_csv = tmp / "people.csv", tmp / "people.json", tmp / "retitled.csv"
        write_csv(people_csv, rows)
        people_json.write_bytes(orjson.dumps([{k: v for k, v in r.items() if v} for r in rows]))
        write_csv(retitled_csv, people_rows(args.people, retitled=min(1000, args.people)))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        env.pop("IDCONSOLE_HOME", None)
        code = {"this": ROOT}
        if args.compare is not None:
            code[args.compare.resolve().name] = args.compare.resolve()
        # the home the other cases start from: the CSV imported once by this checkout (untimed)
        imported = tmp / "imported"
        fresh_copy(None, imported, env)
        run_measured([sys.executable, "-m", "console", "users", "import", str(people_csv), "--json"],
                     {**env, "IDCONSOLE_HOME": str(imported)}, ROOT)
        state_mb = (imported / "state.json").stat().st_size / 1e6
        print(f"{args.people} people: CSV {people_csv.stat().st_size / 1e6:.1f} MB, JSON "
              f"{people_json.stat().st_size / 1e6:.1f} MB, state {state_mb:.0f} MB", flush=True)
        imports = {"new": (people_csv, None, {"created": args.people}),
                   "json": (people_json, None, {"created": args.people}),
                   "same": (people_csv, imported, {"unchanged": args.people}),
                   "1k": (retitled_csv, imported, {"updated": min(1000, args.people)})}
        labels = {"new": f"new: {args.people // 1000}k people from CSV into an empty home",
                  "json": f"json: {args.people // 1000}k people from JSON into an empty home",
                  "same": f"same: the same {args.people // 1000}k again (nothing changes)",
                  "1k": f"1k: {min(1000, args.people)} of {args.people // 1000}k retitled"}
        floor_name = "floor: read the CSV, write the documents (TinyDB + orjson)"
        names: list[tuple[str, str, str]] = [(floor_name, "floor", "")]
        for case in wanted:
            for who in code:
                names.append((labels[case] + ("" if who == "this" else f" [{who}]"), case, who))
        best: dict[str, tuple[float, float, int]] = {}
        home = tmp / "home"
        for _ in range(args.repeat):  # interleaved, so that load hits every case alike
            for name, case, who in names:
                if case == "floor":
                    fresh_copy(None, home, env)
                    command = [sys.executable, "-c", FLOOR, str(people_csv), str(home / "state.json")]
                    seconds, cpu, rss, _ = run_measured(command, env, ROOT)
                else:
                    path, start, expect = imports[case]
                    fresh_copy(start, home, env)
                    command = [sys.executable, "-m", "console", "users", "import", str(path), "--json"]
                    case_env = {**env, "IDCONSOLE_HOME": str(home), "PYTHONPATH": str(code[who])}
                    seconds, cpu, rss, out = run_measured(command, case_env, code[who])
                    result = orjson.loads(out)
                    for key, count in expect.items():
                        if result[key] != count or result["errors"]:
                            raise SystemExit(f"{name}: expected {key} {count}, got {result}")
                before = best.get(name)
                best[name] = (min(seconds, before[0]) if before else seconds, min(cpu, before[1]) if before else cpu,
                              max(rss, before[2]) if before else rss)
        floor = best[names[0][0]]
        for name, case, who in names:
            seconds, cpu, rss = best[name]
            verdict = ""
            if case == "new" and who == "this":
                verdict = f"  target <= 15 s, <= 500 MB: {'PASS' if seconds <= 15 and rss <= 500 else 'MISS'}"
            print(f"{name:<62} {seconds:6.2f} s (CPU {cpu:5.2f} s)  {seconds / floor[0]:5.2f}x the floor "
                  f"(CPU {cpu / floor[1]:5.2f}x)  RSS {rss:5d} MB{verdict}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
