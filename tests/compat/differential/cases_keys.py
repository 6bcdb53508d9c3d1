"""Keys on local and remote storage: what is written where, and what is refused as outside."""

from tests.compat.differential.case import Case

REMOTE = """\
from prefect.filesystems import RemoteFileSystem
import uuid
BASE = f"memory://keys-{uuid.uuid4().hex[:12]}/base"
fs = RemoteFileSystem(basepath=BASE)
def attempt(key):
    try:
        written = fs.write_path(key, b"v")
    except ValueError:
        return "refused"
    except OSError as error:
        return ["failed", type(error).__name__]
    return ["written", str(written).replace(BASE, "BASE")]
"""

LOCAL = """\
from prefect.filesystems import LocalFileSystem
import os
fs = LocalFileSystem(basepath=STORAGE_PATH)
ROOT = os.path.realpath(STORAGE_PATH)
def attempt(key):
    try:
        written = fs.write_path(key, b"v")
    except ValueError:
        return "refused"
    return ["written", str(written).replace(ROOT, "ROOT")]
"""

CASES = [
    Case(
        id="remote-key-canonical",
        code=REMOTE
        + """
def case():
    return attempt('a/b'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-key-leading-slash",
        code=REMOTE
        + """
def case():
    return attempt('/a/b'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-inside",
        code=REMOTE
        + """
def case():
    return attempt('BASE/x/y'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('BASE/../x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-encoded-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('BASE/%2e%2e/x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-mixed-encoded-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('BASE/.%2E/x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-backslash-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('BASE/..\\\\\\\\x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-outside-prefix",
        code=REMOTE
        + """
def case():
    return attempt('BASE-sibling/x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-other-scheme",
        code=REMOTE
        + """
def case():
    return attempt('s3://bucket/base/x'.replace("BASE", BASE))
""",
    ),
    Case(
        id="remote-url-other-location",
        code=REMOTE
        + """
def case():
    return attempt("memory://somewhere-else/base/x")
""",
    ),
    Case(
        id="remote-key-double-slash",
        code=REMOTE
        + """
def case():
    return attempt('a//b'.replace("BASE", BASE))
""",
        differs="a//b is refused rather than stored beside a/b: tools and other backends read it as a/b",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-dot-segment",
        code=REMOTE
        + """
def case():
    return attempt('a/./b'.replace("BASE", BASE))
""",
        differs="a/./b is refused rather than stored beside a/b: tools and other backends read it as a/b",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-trailing-slash",
        code=REMOTE
        + """
def case():
    return attempt('a/b/'.replace("BASE", BASE))
""",
        differs="a/b/ names a folder, not an object: refused",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-encoded-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('%2e%2e/x'.replace("BASE", BASE))
""",
        differs="a percent-encoded dot segment is refused as outside the base path",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-mixed-encoded-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('.%2e/x'.replace("BASE", BASE))
""",
        differs="a percent-encoded dot segment is refused as outside the base path",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-upper-encoded-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('a/%2E%2E/%2E%2E/x'.replace("BASE", BASE))
""",
        differs="a percent-encoded dot segment is refused as outside the base path",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-backslash-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('..\\\\\\\\x'.replace("BASE", BASE))
""",
        differs="a dot segment behind a backslash is refused as outside the base path",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-backslash-inner-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('a\\\\\\\\..\\\\\\\\..\\\\\\\\x'.replace("BASE", BASE))
""",
        differs="a dot segment behind a backslash is refused as outside the base path",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-encoded-slash",
        code=REMOTE
        + """
def case():
    return attempt('a%2fb'.replace("BASE", BASE))
""",
        differs="an encoded slash is refused: a layer that decodes it would see another key",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-encoded-backslash",
        code=REMOTE
        + """
def case():
    return attempt('a%5c..%5cb'.replace("BASE", BASE))
""",
        differs="an encoded backslash is refused: a layer that decodes it would see another key",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-plain-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('../x'.replace("BASE", BASE))
""",
        differs="a relative key with '..' is refused as outside the base path (Prefect checks only URLs)",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-inner-dot-dot",
        code=REMOTE
        + """
def case():
    return attempt('a/../../x'.replace("BASE", BASE))
""",
        differs="a relative key with '..' is refused as outside the base path (Prefect checks only URLs)",
        resultdeck="refused",
    ),
    Case(
        id="remote-url-encoded-slash",
        code=REMOTE
        + """
def case():
    return attempt('BASE/a%2fb'.replace("BASE", BASE))
""",
        differs="an encoded slash in a URL key is refused: a layer that decodes it would see another key",
        resultdeck="refused",
    ),
    Case(
        id="remote-url-double-slash",
        code=REMOTE
        + """
def case():
    return attempt('BASE/a//b'.replace("BASE", BASE))
""",
        differs="a//b is refused rather than stored beside a/b",
        resultdeck="refused",
    ),
    Case(
        id="remote-key-spellings-stay-apart",
        code=REMOTE
        + """
def case():
    fs.write_path("a/b", b"plain")
    try:
        fs.write_path("a//b", b"doubled")
    except ValueError:
        pass
    return fs.read_path("a/b").decode()
""",
    ),
    Case(
        id="remote-key-with-percent-and-space",
        code=REMOTE
        + """
def case():
    return [attempt("100%/a b"), fs.read_path("100%/a b").decode()]
""",
    ),
    Case(
        id="remote-key-read-back",
        code=REMOTE
        + """
def case():
    fs.write_path("dir/value", b"payload")
    return [fs.read_path("dir/value").decode(), fs.read_path(BASE + "/dir/value").decode()]
""",
    ),
    Case(
        id="remote-key-read-missing",
        code=REMOTE
        + """
def case():
    return raises(fs.read_path, "missing/key")
""",
        differs="a missing object is ObjectNotFoundError, a FileNotFoundError that names the location",
        resultdeck={"raises": "ObjectNotFoundError"},
    ),
    Case(
        id="local-key-canonical",
        code=LOCAL
        + """
def case():
    return attempt('a/b')
""",
    ),
    Case(
        id="local-key-double-slash",
        code=LOCAL
        + """
def case():
    return attempt('a//b')
""",
    ),
    Case(
        id="local-key-dot-segment",
        code=LOCAL
        + """
def case():
    return attempt('a/./b')
""",
    ),
    Case(
        id="local-key-dot-dot",
        code=LOCAL
        + """
def case():
    return attempt('../x')
""",
    ),
    Case(
        id="local-key-inner-dot-dot",
        code=LOCAL
        + """
def case():
    return attempt('a/../../x')
""",
    ),
    Case(
        id="local-key-absolute-outside",
        code=LOCAL
        + """
def case():
    return attempt('/etc/resultdeck-never-written')
""",
    ),
    Case(
        id="local-key-encoded-dot-dot-is-a-name",
        code=LOCAL
        + """
def case():
    return attempt('%2e%2e/x')
""",
    ),
    Case(
        id="local-key-backslash-is-a-name",
        code=LOCAL
        + """
def case():
    return attempt('a\\\\\\\\b')
""",
    ),
    Case(
        id="local-key-absolute-inside",
        code=LOCAL
        + """
def case():
    return attempt(os.path.join(ROOT, "deep", "key"))
""",
    ),
    Case(
        id="local-key-spellings-name-one-file",
        code=LOCAL
        + """
def case():
    fs.write_path("a/b", b"one")
    fs.write_path("a//b", b"two")
    fs.write_path("a/./b", b"three")
    return [fs.read_path("a/b").decode(), sorted(os.listdir(os.path.join(ROOT, "a")))]
""",
    ),
    Case(
        id="local-key-read-missing",
        code=LOCAL
        + """
def case():
    return raises(fs.read_path, "missing")
""",
        differs="a missing object is ObjectNotFoundError (a FileNotFoundError), not ValueError",
        resultdeck={"raises": "ObjectNotFoundError"},
    ),
    Case(
        id="local-key-sibling-prefix-refused",
        code=LOCAL
        + """
def case():
    return attempt(ROOT + "-sibling/x")
""",
    ),
]
