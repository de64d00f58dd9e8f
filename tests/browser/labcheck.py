"""Run the course's notebooks in a real JupyterLab, in a real Chromium, the way a learner does.

nbval runs a notebook in a kernel; a learner runs it in JupyterLab, where widgets render through
the ipywidgets front-end, plots are images in the page and "Run All Cells" has to reach the end.
This script checks exactly that::

    python tests/browser/labcheck.py --out build/browser            # what `make test-browser` runs
    python tests/browser/labcheck.py --out /tmp/b notebooks/02_word2vec.ipynb   # one notebook

It starts JupyterLab from this Python's environment (headless, on 127.0.0.1, a random token, the
repository as root, and throw-away Jupyter config, data, runtime, settings and IPython dirs, so a
user's own Jupyter set-up is neither used nor touched), drives Chromium through Playwright, and
for each notebook:

1. opens it and waits for its kernel;
2. runs Run → Run All Cells from the menu bar and waits for the end;
3. fails on an error output, a code cell left unrun, a kernel that died or restarted, an image that
   did not render, a widget showing "Error displaying widget" or its text fallback instead of a
   live widget, a check() cell (exercise notebooks) without feedback, or Chinese text drawn
   without a CJK font (the notes' terms are in every chapter);
4. nudges the first slider (or, without one, types into the first text box) and checks that the
   kernel answered: it went busy and the widget's output changed;
5. checks that the notebook and its paired .py on disk are byte-for-byte what they were.

Before the course's notebooks it checks itself: tiny notebooks, each broken in one way (an error
cell, a widget with a bad model, an image that cannot decode, a kernel that dies), must each be
reported as failing for that reason, and a good one (a plot, a slider) must pass — and must fail,
its slider caught as a text fallback, in a second JupyterLab whose widget front-end is switched off.

Screenshots (the page after the run, and each notebook's first widget) and ``summary.json`` go to
``--out``. JupyterLab and the kernels it started are shut down at the end by their own pids.
Exit status: 0 all passed, 1 a notebook or the self-test failed, 2 it could not run (no Chromium,
no Playwright, JupyterLab did not start).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Every chapter notebook and every exercise notebook (the learner's version, whose check() feedback
# must render). All of them fit in the time budget at the smoke preset, so nothing rotates.
DEFAULT_NOTEBOOKS = ["notebooks/*.ipynb", "exercises/*.ipynb"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_FRONTEND = "@jupyter-widgets/jupyterlab-manager"  # the JupyterLab extension that draws widgets
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Fonts that carry CJK glyphs, as Chromium names them on Linux, macOS and Windows.
CJK_FONT = re.compile(r"CJK|Han Sans|Han Serif|WenQuanYi|Droid Sans Fallback|PingFang|Hiragino|Heiti|"
                      r"Songti|YaHei|SimSun|SimHei|MS Gothic|Meiryo|Noto Sans SC|Noto Serif SC|AR PL", re.I)
KERNEL_BAD = ("dead", "restarting", "autorestarting")

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]

# JupyterLab settings for the run: all cells in the page (no virtual scrolling, so every output is
# in the DOM), no autosave (the notebook on disk must stay as it is), no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

INSTALL_HINT = (
    "Install Chromium and the CJK fonts the notes need, e.g. on Debian/Ubuntu:\n"
    "    sudo apt-get install chromium fonts-noto-cjk\n"
    "or, with internet access, Playwright's own build: python -m playwright install chromium.\n"
    "Point PTM_CHROMIUM at any other Chromium or Chrome binary."
)


class CannotRun(RuntimeError):
    """The check could not be run at all (exit status 2), as opposed to a notebook failing it."""


def find_chromium() -> str:
    """The Chromium to drive: $PTM_CHROMIUM, else one on PATH, else Playwright's own download."""
    explicit = os.environ.get("PTM_CHROMIUM")
    if explicit:
        path = shutil.which(explicit) or explicit
        if not os.access(path, os.X_OK):
            raise CannotRun(f"PTM_CHROMIUM={explicit!r} is not an executable file.\n{INSTALL_HINT}")
        return path
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
        if path and os.access(path, os.X_OK):
            return path
    except Exception:  # no Playwright, or no browser of its own: the message below says what to do
        pass
    raise CannotRun("no Chromium found (looked at $PTM_CHROMIUM, chromium, chromium-browser, "
                    f"google-chrome on PATH, and Playwright's own browsers).\n{INSTALL_HINT}")


def file_hashes(notebook: Path) -> dict[str, str]:
    """sha256 of a notebook and of its jupytext pair (the .py beside it), where there is one."""
    out = {}
    for path in (notebook, notebook.with_suffix(".py")):
        if path.exists():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------------------------------------
# JupyterLab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server of this environment's, isolated from the user's Jupyter set-up."""

    def __init__(self, root: Path, workdir: Path, env_extra: dict[str, str] | None = None,
                 disabled_extensions: tuple[str, ...] = ()):
        self.root, self.workdir = root, workdir
        self.disabled_extensions = disabled_extensions
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.kernel_pids: set[int] = set()
        self.log_path = workdir / "jupyterlab.log"
        self.env_extra = env_extra or {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
                "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
                "IPYTHONDIR": "ipython"}
        for var, name in dirs.items():
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.workdir / name)
        for rel, settings in LAB_SETTINGS.items():
            path = self.workdir / "lab-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings), encoding="utf-8")
        if self.disabled_extensions:  # the self-test's lab without the widget front-end
            path = self.workdir / "config" / "labconfig" / "page_config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"disabledExtensions": {e: True for e in self.disabled_extensions}}),
                            encoding="utf-8")
        env["JUPYTER_PREFER_ENV_PATH"] = "1"  # this environment's kernel, not a user-wide one
        env.pop("MPLBACKEND", None)  # a learner's kernel draws inline; Agg would hide every plot
        env.pop("JUPYTER_TOKEN", None)
        env.update(self.env_extra)
        return env

    def start(self, timeout: float = 90.0) -> None:
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.terminals_enabled=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        env = self._env()  # creates the work dirs
        log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CannotRun(f"JupyterLab exited with status {self.proc.returncode} at start; its log:\n"
                                + self.log_path.read_text(encoding="utf-8")[-3000:])
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.5)
        raise CannotRun(f"JupyterLab did not answer on {self.url} within {timeout:.0f} s; log: {self.log_path}")

    def api(self, method: str, path: str, timeout: float = 10.0):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def note_kernels(self) -> None:
        """Remember the pids of the kernels this server started (its child processes)."""
        import psutil

        if self.proc is not None:
            try:
                self.kernel_pids |= {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass

    def shutdown_kernels(self) -> None:
        self.note_kernels()
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> dict:
        """Shut the server and its kernels down; whatever is left is ended by pid. Says what it did."""
        import psutil

        if self.proc is None:
            return {}
        self.note_kernels()
        record = {"server_pid": self.proc.pid, "kernel_pids": sorted(self.kernel_pids), "killed": []}
        try:
            self.api("POST", "/api/shutdown")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            record["killed"].append(self.proc.pid)
        for pid in sorted(self.kernel_pids):
            try:
                p = psutil.Process(pid)
                p.terminate()
                p.wait(timeout=10)
                record["killed"].append(pid)
            except psutil.TimeoutExpired:
                p.kill()
                record["killed"].append(pid)
            except psutil.NoSuchProcess:
                pass
        record["left_running"] = [pid for pid in [self.proc.pid, *self.kernel_pids] if psutil.pid_exists(pid)
                                  and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        self.proc = None
        return record


# ---------------------------------------------------------------------------------------------
# What the page shows: gathered in the browser, judged in Python

INSTALL_LISTENER_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  window.__ptm = {statuses: []};
  panel.sessionContext.statusChanged.connect((_, s) => window.__ptm.statuses.push(s));
  return true;
}"""

KERNEL_READY_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.widgets) return false;
  const sc = panel.sessionContext;
  return sc.isReady && !!sc.session && !!sc.session.kernel && sc.session.kernel.status === 'idle'
         && panel.content.widgets.length > 0;
}"""

PROGRESS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const sc = panel.sessionContext;
  const kernel = sc.session && sc.session.kernel;
  let code = 0, done = 0, running = 0, errors = 0;
  for (const w of panel.content.widgets) {
    if (w.model.type !== 'code' || !w.model.sharedModel.getSource().trim()) continue;
    code += 1;
    if (w.model.executionCount !== null) done += 1;
    const prompt = w.node.querySelector('.jp-InputPrompt');
    if (w.model.executionState === 'running' || (prompt && prompt.textContent.includes('*'))) running += 1;
    for (const o of w.model.outputs.toJSON()) if (o.output_type === 'error') errors += 1;
  }
  return {code, done, running, errors, kernel: kernel ? kernel.status : 'none', statuses: window.__ptm.statuses};
}"""

SNAPSHOT_JS = """() => {
  const WIDGET = '""" + WIDGET_MIME + """';
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.map((w, index) => {
    const cell = {index, type: w.model.type, has_source: !!w.model.sharedModel.getSource().trim(),
                  is_check: /(^|\\n)\\s*check\\(/.test(w.model.sharedModel.getSource()),
                  execution_count: null, outputs: [], images: [], views: [], output_text: ''};
    if (w.model.type !== 'code') return cell;
    cell.execution_count = w.model.executionCount;
    cell.outputs = w.model.outputs.toJSON().map(o => ({output_type: o.output_type,
        mimes: o.data ? Object.keys(o.data) : [], ename: o.ename || null, evalue: o.evalue || null}));
    const area = w.node.querySelector('.jp-OutputArea');
    if (!area) return cell;
    cell.output_text = area.innerText.slice(0, 2000);
    cell.images = [...area.querySelectorAll('img')].map(img => ({complete: img.complete, width: img.naturalWidth}));
    cell.svg = area.querySelectorAll('.jp-RenderedSVG svg, .jp-RenderedImage svg').length;
    // one entry per output, in the model's order: what the page drew for it
    cell.views = [...area.children].filter(c => c.classList.contains('jp-OutputArea-child')).map(c => {
      const el = c.querySelector('.jp-OutputArea-output');
      if (!el) return {mime: null, live: false, error: false, empty: true, text: ''};
      const text = el.innerText;
      return {mime: el.getAttribute('data-mime-type'),
              live: !!el.querySelector('.jupyter-widgets') && !el.querySelector('.jupyter-widgets-error-widget'),
              error: !!el.querySelector('.jupyter-widgets-error-widget') || text.includes('Error displaying widget'),
              empty: el.children.length === 0 && !text.trim(), text: text.slice(0, 300)};
    });
    return cell;
  });
  return {cells, statuses: window.__ptm.statuses,
          kernel: panel.sessionContext.session && panel.sessionContext.session.kernel
                  ? panel.sessionContext.session.kernel.status : 'none'};
}"""

MARK_CJK_HEADING_JS = """() => {
  const CJK = /[\\u3400-\\u4dbf\\u4e00-\\u9fff]/;
  const panel = window.jupyterapp.shell.currentWidget;
  const pick = sel => [...panel.node.querySelectorAll(sel)].find(e => CJK.test(e.textContent));
  const md = tags => tags.map(t => '.jp-RenderedMarkdown ' + t).join(', ');
  const found = pick(md(['h1', 'h2', 'h3'])) || pick(md(['p', 'li', 'td']));  // a heading first, else any text
  if (!found) return null;
  // The font query reports the node's own text nodes: take the first element (itself or inside,
  // e.g. an <em>) whose own text holds the Chinese, and return exactly that text.
  const own = e => [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('');
  const h = [found, ...found.querySelectorAll('*')].find(e => CJK.test(own(e)));
  h.setAttribute('data-ptm-cjk', '1');
  return own(h).trim();
}"""


def judge(snapshot: dict, *, exercise: bool = False) -> list[str]:
    """What is wrong with a notebook after Run All, from the page's snapshot (empty list: passed)."""
    problems = []
    bad = [s for s in snapshot.get("statuses", []) if s in KERNEL_BAD]
    if bad or snapshot.get("kernel") == "dead":
        problems.append(f"the kernel died or restarted (kernel status went {bad or ['dead']})")
    for cell in snapshot["cells"]:
        if cell["type"] != "code":
            continue
        i = cell["index"]
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        for o in errors:
            problems.append(f"cell {i}: error output {o['ename']}: {(o['evalue'] or '')[:300]}")
        if cell["has_source"] and cell["execution_count"] is None and not errors:
            problems.append(f"cell {i}: left unrun")
        want_images = sum(1 for o in cell["outputs"] if any(m in IMAGE_MIMES for m in o["mimes"])
                          and WIDGET_MIME not in o["mimes"])
        drawn = sum(1 for im in cell["images"] if im["complete"] and im["width"] > 0) + cell.get("svg", 0)
        broken = sum(1 for im in cell["images"] if not (im["complete"] and im["width"] > 0))
        if broken:
            problems.append(f"cell {i}: {broken} image(s) did not render")
        elif drawn < want_images:
            problems.append(f"cell {i}: {want_images} image output(s) but {drawn} drawn in the page")
        views = cell["views"]
        for o, v in zip(cell["outputs"], views):
            if WIDGET_MIME not in o["mimes"]:
                continue
            if v["error"]:
                problems.append(f"cell {i}: widget error: {' '.join(v['text'].split())[:200]!r}")
            elif v["mime"] == "text/plain":
                problems.append(f"cell {i}: a widget shown as its text fallback {v['text'][:80]!r}, not live "
                                "(is the ipywidgets front-end, jupyterlab_widgets, installed?)")
            elif not v["live"] and not v["empty"]:
                problems.append(f"cell {i}: a widget output without a live widget in it: {v['text'][:200]!r}")
        if len(views) != len(cell["outputs"]):
            problems.append(f"cell {i}: {len(cell['outputs'])} outputs but {len(views)} drawn in the page")
        if exercise and cell["is_check"] and cell["execution_count"] is not None and not cell["output_text"].strip():
            problems.append(f"cell {i}: a check() cell printed no feedback")
    if exercise and not any(c["is_check"] for c in snapshot["cells"]):
        problems.append("an exercise notebook without a check() cell")
    cjk = snapshot.get("cjk")
    if cjk is not None:
        if not cjk.get("heading"):
            if not exercise:  # every chapter quotes the notes; an exercise need not
                problems.append("no Chinese text found in the notebook's markdown to check the CJK font on")
        else:
            # every Chinese character must be drawn by a font that has CJK glyphs (no tofu boxes)
            n_cjk = len(CJK.findall(cjk["heading"]))
            n_drawn = sum(f["glyphCount"] for f in cjk["fonts"] if CJK_FONT.search(f["familyName"]))
            if n_drawn < n_cjk:
                problems.append(f"the Chinese text {cjk['heading'][:60]!r} has {n_cjk} CJK characters but "
                                f"{n_drawn} are drawn with a CJK font (fonts used: "
                                f"{[f['familyName'] for f in cjk['fonts']]}); install fonts-noto-cjk")
    return problems


# ---------------------------------------------------------------------------------------------
# One notebook in the browser


def _slug(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.replace(".ipynb", ""))


def _platform_fonts(page) -> list[dict]:
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-ptm-cjk]"})["nodeId"]
        return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()


def _interact(page, out_dir: Path, slug: str) -> dict:
    """Nudge the first slider (else type into the first text box); did the kernel answer?"""
    slider = page.locator(".jp-OutputArea .widget-slider .noUi-handle").first
    text = page.locator(".jp-OutputArea .widget-text input").first
    if slider.count():
        kind, target = "slider", slider
    elif text.count():
        kind, target = "text box", text
    else:
        return {"kind": None}
    view = target.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
    view.scroll_into_view_if_needed()
    before_text = view.inner_text()
    n_status = len(page.evaluate("() => window.__ptm.statuses"))
    if kind == "slider":
        target.click()
        target.press("ArrowRight")
    else:
        target.fill("queen")
        target.press("Enter")
    deadline = time.monotonic() + 90
    answered = changed = False
    while time.monotonic() < deadline:
        statuses = page.evaluate("() => window.__ptm.statuses")[n_status:]
        answered = "busy" in statuses and statuses[-1] == "idle"
        changed = view.inner_text() != before_text
        if answered and changed:
            break
        time.sleep(0.5)
    shot = out_dir / f"{slug}-widget.png"  # the widget with the kernel's answer to the nudge
    view.screenshot(path=str(shot))
    return {"kind": kind, "kernel_answered": answered, "output_changed": changed, "screenshot": str(shot)}


def check_notebook(page, lab: Lab, nb: Path, out_dir: Path, timeout: float, exercise: bool) -> dict:
    rel = nb.relative_to(lab.root).as_posix()
    slug = _slug(rel)
    before = file_hashes(nb)
    t0 = time.monotonic()
    result: dict = {"notebook": rel, "problems": []}
    page.goto(f"{lab.url}/lab/tree/{rel}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_READY_JS, timeout=120_000, polling=500)
    page.evaluate(INSTALL_LISTENER_JS)
    result["open_s"] = round(time.monotonic() - t0, 1)
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
    t_run = time.monotonic()
    quiet = 0
    progress: dict = {}
    while True:
        progress = page.evaluate(PROGRESS_JS)
        bad = [s for s in progress["statuses"] if s in KERNEL_BAD]
        finished = progress["running"] == 0 and progress["kernel"] == "idle" and (
            progress["done"] == progress["code"] or progress["errors"] > 0)
        quiet = quiet + 1 if finished else 0
        if quiet >= 3 or bad or progress["kernel"] == "dead":
            break
        if time.monotonic() - t_run > timeout:
            result["problems"].append(f"Run All did not finish within {timeout:.0f} s "
                                      f"({progress['done']}/{progress['code']} code cells ran)")
            break
        time.sleep(0.5)
    result["run_s"] = round(time.monotonic() - t_run, 1)
    snapshot = page.evaluate(SNAPSHOT_JS)
    heading = page.evaluate(MARK_CJK_HEADING_JS)
    snapshot["cjk"] = {"heading": heading, "fonts": _platform_fonts(page) if heading else []}
    result["cjk"] = snapshot["cjk"]
    result["problems"] += judge(snapshot, exercise=exercise)
    result["cells"] = {"code": progress.get("code"), "ran": progress.get("done"),
                       "images": sum(len(c["images"]) + c.get("svg", 0) for c in snapshot["cells"]),
                       "widgets": sum(1 for c in snapshot["cells"] for o in c["outputs"] if WIDGET_MIME in o["mimes"])}
    page.screenshot(path=str(out_dir / f"{slug}.png"))
    if not result["problems"]:
        result["interaction"] = _interact(page, out_dir, slug)
        inter = result["interaction"]
        if inter["kind"] and not (inter["kernel_answered"] and inter["output_changed"]):
            result["problems"].append(f"after nudging the {inter['kind']} the kernel did not answer "
                                      f"(went busy and back: {inter['kernel_answered']}, "
                                      f"output changed: {inter['output_changed']})")
    if file_hashes(nb) != before:
        result["problems"].append(f"{rel} (or its .py pair) changed on disk during the run")
    lab.shutdown_kernels()
    result["seconds"] = round(time.monotonic() - t0, 1)
    result["passed"] = not result["problems"]
    return result


# ---------------------------------------------------------------------------------------------
# The checker's own test: broken notebooks must fail, a good one must pass

SELFTEST_CASES = {
    # name: (cells, the reason the checker must give; None: must pass)
    "good": ([
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.show()",
        "import ipywidgets as w\nout = w.Label('0')\ns = w.IntSlider(0, 0, 10)\n"
        "s.observe(lambda c: setattr(out, 'value', str(c['new'])), 'value')\nw.VBox([s, out])",
    ], None),
    "error_cell": (["x = 1", "raise ValueError('a broken cell')", "y = 2"], r"error output ValueError"),
    "bad_widget": ([
        "import ipywidgets as w\nfrom traitlets import Unicode\n"
        "class Broken(w.DOMWidget):\n    _view_name = Unicode('NoSuchView').tag(sync=True)\n"
        "    _view_module = Unicode('@jupyter-widgets/controls').tag(sync=True)\n"
        "    _view_module_version = Unicode('2.0.0').tag(sync=True)\nBroken()",
    ], r"widget error|without a live widget"),
    "broken_image": (["from IPython.display import Image\nImage(data=b'not a png at all', format='png')"],
                     r"image\(s\) did not render"),
    "kernel_dies": (["import os\nos._exit(1)", "z = 3"], r"kernel died"),
}


def _write_selftest(folder: Path) -> list[Path]:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (cells, _) in SELFTEST_CASES.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nb.cells = [nbformat.v4.new_markdown_cell(f"# self-test: {name} (自检)")]
        nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(path)
    return paths


def selftest(page, lab: Lab, work: Path, env: dict[str, str], folder: Path, out_dir: Path) -> dict:
    """Run the self-test notebooks; the last case runs the good notebook in a second JupyterLab
    whose ipywidgets front-end is switched off, where its slider must be caught as a text fallback."""
    paths = _write_selftest(folder)
    results = [check_notebook(page, lab, nb, out_dir, 120, exercise=False) for nb in paths]
    bare = Lab(lab.root, work / "no-widgets", env, disabled_extensions=(WIDGET_FRONTEND,))
    try:
        bare.start()
        r = check_notebook(page, bare, folder / "good.ipynb", out_dir, 120, exercise=False)
    finally:
        shutdown = bare.stop()
    r["notebook"] = "(no widget front-end) " + r["notebook"]
    results.append(r)
    wrong = selftest_verdicts(results[:-1])
    if not re.search(r"text fallback", "\n".join(r["problems"])):
        wrong.append(f"self-test without the widget front-end: the slider's text fallback was not caught "
                     f"(got: {r['problems'] or 'passed'})")
    if shutdown.get("left_running"):
        wrong.append(f"self-test: the second JupyterLab left {shutdown['left_running']} running")
    return {"results": results, "wrong": wrong}


def selftest_verdicts(results: list[dict]) -> list[str]:
    """Where the checker's verdict on a self-test notebook is not the expected one."""
    wrong = []
    for r in results:
        expect = SELFTEST_CASES[Path(r["notebook"]).stem][1]
        text = "\n".join(r["problems"])
        if expect is None and r["problems"]:
            wrong.append(f"self-test {r['notebook']}: should pass, but: {text}")
        elif expect is not None and not re.search(expect, text):
            wrong.append(f"self-test {r['notebook']}: should fail with /{expect}/, got: {text or 'passed'}")
        if expect is None and (r.get("interaction") or {}).get("kind") != "slider":
            wrong.append(f"self-test {r['notebook']}: the slider was not found and nudged")
    return wrong


# ---------------------------------------------------------------------------------------------


def _interaction_note(inter: dict | None) -> str:
    if not inter:
        return ""
    if not inter["kind"]:
        return "; no slider or text box to nudge"
    ok = inter["kernel_answered"] and inter["output_changed"]
    return f"; {inter['kind']} nudged, kernel {'answered' if ok else 'did NOT answer'}"


def resolve_notebooks(patterns: list[str]) -> list[Path]:
    found: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(str(ROOT / pat))) or ([pat] if Path(pat).exists() else [])
        if not hits:
            raise CannotRun(f"no notebook matches {pat!r} (paths are relative to {ROOT})")
        for h in hits:
            p = Path(h).resolve()
            if p.suffix != ".ipynb":
                raise CannotRun(f"{h} is not a .ipynb notebook")
            if ROOT not in p.parents:
                raise CannotRun(f"{h} is outside the repository ({ROOT}), which JupyterLab serves as its root")
            if p not in found:
                found.append(p)
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help=f"notebooks or globs (default: {' '.join(DEFAULT_NOTEBOOKS)})")
    ap.add_argument("--out", default="build/browser", help="folder for screenshots and summary.json")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one notebook's Run All may take")
    ap.add_argument("--preset", default="smoke", help="PTM_PRESET for the kernels (default: smoke)")
    ap.add_argument("--no-selftest", action="store_true", help="skip the checker's own test")
    args = ap.parse_args(argv)
    if args.timeout <= 0:
        ap.error("--timeout must be a positive number of seconds")
    out_dir = (Path.cwd() / args.out).resolve()
    t_start = time.monotonic()
    try:
        notebooks = resolve_notebooks(args.notebooks or DEFAULT_NOTEBOOKS)
        chromium = find_chromium()
        try:
            from playwright.sync_api import Error as PlaywrightError
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise CannotRun("the Python package playwright is missing: pip install -e '.[browser]' "
                            "(make test-browser does this)") from None
    except CannotRun as e:
        print(f"test-browser: {e}", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    work = Path(tempfile.mkdtemp(prefix="ptm-labcheck-"))
    selftest_dir = ROOT / "build" / "browser-selftest"
    env = {"PTM_PRESET": args.preset, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    lab = Lab(ROOT, work, env)
    summary: dict = {"chromium": chromium, "preset": args.preset, "out": str(out_dir), "selftest": None,
                     "notebooks": []}
    status = 0
    try:
        lab.start()
        print(f"test-browser: JupyterLab on {lab.url} (pid {lab.proc.pid}), Chromium {chromium}", flush=True)
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                                            timeout=60_000)
            except PlaywrightError as e:
                raise CannotRun(f"Chromium ({chromium}) did not start: {str(e).splitlines()[0]}\n{INSTALL_HINT}")
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            if not args.no_selftest:
                summary["selftest"] = selftest(page, lab, work, env, selftest_dir, out_dir)
                wrong = summary["selftest"]["wrong"]
                for line in wrong:
                    print(f"test-browser: {line}", flush=True)
                n = len(summary["selftest"]["results"])
                print(f"test-browser: self-test {'FAILED' if wrong else 'passed'}: "
                      f"{n - 1} broken notebooks must be reported and one good notebook must pass", flush=True)
                if wrong:
                    status = 1
            for nb in notebooks:
                rel = nb.relative_to(ROOT).as_posix()
                try:
                    r = check_notebook(page, lab, nb, out_dir, args.timeout, exercise=rel.startswith("exercises/"))
                except PlaywrightError as e:
                    r = {"notebook": rel, "passed": False, "problems": [f"the browser step failed: {e}"]}
                    page.screenshot(path=str(out_dir / f"{_slug(rel)}.png"))
                summary["notebooks"].append(r)
                mark = "PASS" if r["passed"] else "FAIL"
                print(f"test-browser: {mark} {rel} ({r.get('seconds', '?')} s"
                      + (f", {r['cells']['images']} images, {r['cells']['widgets']} widgets" if "cells" in r else "")
                      + _interaction_note(r.get("interaction")) + ")", flush=True)
                for prob in r["problems"]:
                    print(f"    {prob}", flush=True)
                if not r["passed"]:
                    status = 1
            browser.close()
    except CannotRun as e:
        print(f"test-browser: {e}", file=sys.stderr)
        status = 2
    finally:
        summary["shutdown"] = lab.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(selftest_dir, ignore_errors=True)
        summary["seconds"] = round(time.monotonic() - t_start, 1)
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, out_dir / "summary.json")
    if summary["shutdown"].get("left_running"):
        print(f"test-browser: processes still running after shutdown: {summary['shutdown']['left_running']}",
              file=sys.stderr)
        status = status or 1
    n_pass = sum(r["passed"] for r in summary["notebooks"])
    print(f"test-browser: {n_pass} passed, {len(summary['notebooks']) - n_pass} failed in {summary['seconds']:.0f} s; "
          f"screenshots and summary.json in {out_dir}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
