#!/usr/bin/env python3
"""The programs' SVG plots rendered by a real browser (issue 15): headless
chromium loads one page holding every plot (sigeo-fig3's six, and a line
chart and a scatter grid from programs_svg_demo, the code sigeo-nas --plot
uses), each inline and as an <img> drawn into a 400 x 200 box:

 - the DOM (--dump-dom): each <svg> has a viewBox, a non-empty <title>, a
   title line, x and y axis labels and a legend with text; each <img>
   loaded (the browser's SVG decoder accepted the file on its own);
 - the screenshot (--screenshot): each box is not blank (some ink, several
   colours) and the drawing fills the box (it scaled to the box's size).

Skipped (exit 77) with a message when chromium is not installed.
SIGEO_KEEP_RENDER=DIR keeps the page and the screenshot in DIR.

usage: check_svg_render.py PATH/TO/sigeo-fig3 PATH/TO/programs_svg_demo [-- COMMAND ARGS...]...

Each `-- COMMAND ARGS...` group is one more program run whose plot is
rendered too: "{svg}" in its arguments becomes the path it must write, e.g.
  -- build/examples/sigeo-nas --preset tiny --rows 4000 --cycles 3 --quiet --plot {svg}
An argument "{expect:CLASS=TEXT}" in a group is not passed on: that run's
plot must have, in the browser's DOM, an element of class CLASS whose text
contains TEXT (e.g. sigeo-rank's ensemble bars: {expect:group ensemble=/log-rank}).
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser

# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))

fig3, demo = sys.argv[1], sys.argv[2]
extra, group = [], None
for a in sys.argv[3:]:
    if a == "--":
        group = []
        extra.append(group)
    elif group is not None:
        group.append(a)
browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if not browser:
    print("SKIP: chromium is not installed (apt-get install -y chromium); the SVGs were not rendered")
    sys.exit(77)
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def chromium(args, tmp, timeout=180 * T):
    # its own profile directory: nothing from (or for) a user's browser
    profile = tempfile.mkdtemp(dir=tmp, prefix="profile-")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--hide-scrollbars", "--user-data-dir=" + profile] + args
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    shutil.rmtree(profile, ignore_errors=True)
    return r


def png_pixels(path):
    """(width, height, channels, rows of bytes) of an 8-bit non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6), "PNG kind %d/%d" % (depth, ctype)
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif ft == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ft == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - ch] if i >= ch else 0) + prev[i]) // 2) & 255
        elif ft == 4:
            for i in range(stride):
                a, b, c = (line[i - ch] if i >= ch else 0), prev[i], (prev[i - ch] if i >= ch else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


BOX_W, BOX_H = 400, 200  # each plot drawn into a box of this size: it must scale (viewBox)


def page(files, tmp):
    """One HTML page holding every SVG twice: inline (its DOM, for --dump-dom)
    and as an <img> of BOX_W x BOX_H (loaded by the browser's own SVG image
    decoder, for the screenshot). A script records whether each image loaded."""
    html = ['<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;background:white}'
            'img{display:block;width:%dpx;height:%dpx}</style></head><body>' % (BOX_W, BOX_H)]
    for i, svg in enumerate(files):
        with open(svg, encoding="utf-8") as f:
            text = f.read()
        if text.startswith("<?xml"):
            text = text[text.index("?>") + 2:]
        html.append('<div id="dom-%d" style="display:none">%s</div>' % (i, text))
    for i, svg in enumerate(files):
        html.append('<img id="img-%d" src="file://%s">' % (i, os.path.abspath(svg)))
    html.append("<script>window.addEventListener('load', () => { for (const im of document.images) "
                "im.setAttribute('data-loaded', im.complete && im.naturalWidth > 0 ? 'yes' : 'no'); });</script>"
                "</body></html>")
    path = os.path.join(tmp, "plots.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(html))
    return path


class Dom(HTMLParser):
    """Per dom-<i> block: the svg's viewBox, the <title> text, the text of
    elements by class; per img-<i>: data-loaded."""

    def __init__(self):
        super().__init__()
        self.blocks, self.loaded, self.cur, self.stack = {}, {}, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and (a.get("id") or "").startswith("dom-"):
            self.cur = int(a["id"][4:])
            self.blocks[self.cur] = {"viewbox": None, "title": "", "classes": {}}
        if tag == "img" and (a.get("id") or "").startswith("img-"):
            self.loaded[int(a["id"][4:])] = a.get("data-loaded")
        if self.cur is None:
            return
        b = self.blocks[self.cur]
        if tag == "svg" and b["viewbox"] is None:
            b["viewbox"] = a.get("viewbox")
        cls = a.get("class") or ("<title>" if tag == "title" else "")
        self.stack.append(cls)
        if cls:
            b["classes"].setdefault(cls, [""])
            b["classes"][cls].append("")

    def handle_endtag(self, tag):
        if tag == "div" and self.cur is not None and not self.stack:
            self.cur = None
        elif self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.cur is None:
            return
        for cls in set(self.stack):
            if cls:
                self.blocks[self.cur]["classes"][cls][-1] += data


expects = {}  # svg path -> [(class, text)]


def check_all(files, tmp):
    url = "file://" + page(files, tmp)
    r = chromium(["--virtual-time-budget=20000", "--allow-file-access-from-files", "--dump-dom", url], tmp)
    dom = r.stdout.decode("utf-8", "replace")
    if not check(r.returncode == 0 and "<body" in dom, "chromium --dump-dom failed: %r" % r.stderr[-500:]):
        return
    d = Dom()
    d.feed(dom)
    for i, svg in enumerate(files):
        name = os.path.basename(svg)
        b = d.blocks.get(i)
        if not check(b is not None, "%s: not in the browser's DOM" % name):
            continue
        vb = (b["viewbox"] or "").split()
        check(len(vb) == 4 and float(vb[2]) > 0 and float(vb[3]) > 0, "%s: viewBox %r" % (name, b["viewbox"]))
        c = b["classes"]
        check(any(t.strip() for t in c.get("<title>", [])), "%s: no <title>" % name)
        check(any(t.strip() for t in c.get("title", [])), "%s: no title line" % name)
        check(any(t.strip() for t in c.get("x-label", [])), "%s: no x axis label" % name)
        check(any(t.strip() for t in c.get("y-label", [])), "%s: no y axis label" % name)
        check(any(t.strip() for t in c.get("legend", [])), "%s: no legend (or one without text)" % name)
        check(d.loaded.get(i) == "yes", "%s: the browser did not load it as an image (%r)" % (name, d.loaded.get(i)))
        for cls, text in expects.get(svg, []):
            check(any(text in s for s in c.get(cls, [])), "%s: no element of class %r with %r (has %r)"
                  % (name, cls, text, [s for s in c.get(cls, []) if s][:6]))
    # the pixels: one box per plot
    png = os.path.join(tmp, "plots.png")
    r = chromium(["--virtual-time-budget=20000", "--allow-file-access-from-files", "--screenshot=" + png,
                  "--window-size=%d,%d" % (BOX_W, BOX_H * len(files)), url], tmp)
    if not check(r.returncode == 0 and os.path.exists(png), "no screenshot: %r" % r.stderr[-500:]):
        return
    pw, ph, ch, rows = png_pixels(png)
    check(pw == BOX_W and ph == BOX_H * len(files), "screenshot is %dx%d" % (pw, ph))
    for i, svg in enumerate(files):
        name = os.path.basename(svg)
        colours, ink, total = {}, 0, 0
        for row in rows[i * BOX_H:(i + 1) * BOX_H]:
            for x in range(0, pw * ch, ch):
                px = row[x:x + 3]
                colours[px] = colours.get(px, 0) + 1
                ink += px != b"\xff\xff\xff"
                total += 1
        # a drawn plot: some ink, not a flat box, several colours (lines, points, text, grid)
        check(total and 0.01 < ink / total < 0.9, "%s: %.1f %% of its box is not white" % (name, 100.0 * ink / max(total, 1)))
        check(len([c for c, n in colours.items() if n >= 3]) >= 8, "%s: only %d colours" % (name, len(colours)))
        # drawn to the box's size: ink reaches into its right and bottom quarters (it scaled)
        right = sum(row[x:x + 3] != b"\xff\xff\xff" for row in rows[i * BOX_H:(i + 1) * BOX_H]
                    for x in range(3 * pw // 4 * ch, pw * ch, ch))
        check(right > 0, "%s: nothing drawn in the right quarter of its box" % name)


with tempfile.TemporaryDirectory(prefix="svg-render-") as tmp:
    if os.environ.get("SIGEO_KEEP_RENDER"):  # keep the page and the screenshot there, to look at
        tmp = os.environ["SIGEO_KEEP_RENDER"]
    svgdir = os.path.join(tmp, "fig3")
    have_data = any(os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")) for d in
                    [os.environ.get("SIGEO_DATA_DIR", ""), "/usr/share/datasets/fashion-mnist"] if d)
    files = []
    if have_data:
        r = subprocess.run([fig3, "--quick", "--hidden", "2,6,12", "--train-rows", "768", "--quiet", "--svg", svgdir],
                           capture_output=True, text=True, timeout=500 * T)
        check(r.returncode == 0, "sigeo-fig3 --svg: rc %d %s" % (r.returncode, r.stderr))
        files += [os.path.join(svgdir, f) for f in sorted(os.listdir(svgdir))] if os.path.isdir(svgdir) else []
        check(len(files) == 6, "sigeo-fig3 wrote %d SVGs" % len(files))
    else:
        print("note: Fashion-MNIST absent: sigeo-fig3's plots are not rendered")
    r = subprocess.run([demo, tmp], capture_output=True, text=True, timeout=60 * T)
    check(r.returncode == 0, "programs_svg_demo: rc %d %s" % (r.returncode, r.stderr))
    files += [os.path.join(tmp, "lines.svg"), os.path.join(tmp, "grid.svg")]
    for i, cmd in enumerate(extra):
        svg = os.path.join(tmp, "extra%d-%s.svg" % (i, os.path.basename(cmd[0])))
        want = [a[len("{expect:"):-1].split("=", 1) for a in cmd if a.startswith("{expect:") and a.endswith("}")]
        expects[svg] = [tuple(w) for w in want if len(w) == 2]
        cmd = [a for a in cmd if not (a.startswith("{expect:") and a.endswith("}"))]
        r = subprocess.run([a.replace("{svg}", svg) for a in cmd], capture_output=True, text=True, timeout=900 * T)
        check(r.returncode == 0, "%s: rc %d %s" % (" ".join(cmd), r.returncode, r.stderr[-1000:]))
        files.append(svg)
        # a program's sibling plots (sigeo-rank --plot F.svg also writes F-scatter.svg)
        files += [svg[:-4] + "-scatter.svg"] if os.path.exists(svg[:-4] + "-scatter.svg") else []
    files = [f for f in files if check(os.path.exists(f), "%s missing" % f)]
    if files:
        check_all(files, tmp)
    print("rendered %d SVGs with %s" % (len(files), browser))

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
