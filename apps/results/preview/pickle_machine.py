"""A static pickle machine: walks the opcodes (``pickletools.genops``), rebuilds containers and plain
values and records every global the pickle would import and every call it would make. Nothing runs."""

from __future__ import annotations

import io
import pickletools
from typing import Any

from .nodes import BYTES_MAX_SHOWN, DANGER_DANGEROUS, DANGER_KNOWN, DANGER_UNKNOWN, bytes_node_from_head

# -- the static pickle machine ----------------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    """A set of names written as one space-separated text, so long lists stay compact."""
    return frozenset(text.split())


_SAFE_BUILTINS = _names(
    "list dict set frozenset tuple bytearray bytes str int float complex bool slice range object "
    "NoneType Ellipsis NotImplemented"
)
_DANGEROUS_MODULES = _names(
    "os posix nt subprocess sys importlib socket shutil pty signal ctypes multiprocessing runpy code "
    "codeop pickle _pickle marshal types tempfile io _io webbrowser asyncio threading _thread urllib "
    "http ftplib smtplib telnetlib platform glob fileinput pydoc timeit cProfile profile pdb bdb "
    "trace gc inspect ssl select selectors mmap resource pwd grp sqlite3 dbm shelve zipimport pkgutil "
    "sysconfig site distutils setuptools pip cloudpickle dill joblib operator functools codecs "
    "_codecs builtins __builtin__ copyreg copy_reg posixpath ntpath zipfile tarfile logging "
    "_posixsubprocess imp ast dis _ctypes cffi requests httpx boto3 botocore s3fs fsspec django "
    "celery"
)
_KNOWN_MODULES = _names(
    "datetime collections decimal _decimal _pydecimal uuid fractions zoneinfo ipaddress numpy pandas "
    "pydantic pydantic_core pathlib array enum re"
)
_KNOWN_FUNCTIONS = _names(
    "copyreg._reconstructor copyreg.__newobj__ copyreg.__newobj_ex__ copy_reg._reconstructor "
    "_codecs.encode zoneinfo.ZoneInfo._unpickle builtins.getattr"
)
# Names in a known module that read or write files, run code or reach the network.
_DANGEROUS_NAME_PARTS = _names(
    "system popen exec eval load loads loadtxt genfromtxt fromfile tofile save savez savetxt memmap "
    "open write_text write_bytes read_text read_bytes unlink rmdir mkdir touch rename replace chmod "
    "lchmod symlink_to hardlink_to link_to remove __globals__ __builtins__ __subclasses__ __import__ "
    "__reduce__ __reduce_ex__ __getattribute__ __setattr__ __delattr__ __init_subclass__ compile "
    "import_module run call check_output to_pickle read_pickle to_csv to_parquet to_excel to_sql "
    "to_hdf to_json to_feather to_stata to_html read_csv read_json read_html read_sql read_excel "
    "read_parquet read_hdf read_feather read_fwf read_table read_sas read_spss read_stata read_xml "
    "read_orc read_clipboard to_clipboard query testing f2py ctypeslib"
)
_DANGEROUS_MODULE_PARTS = frozenset(
    {"io", "testing", "f2py", "ctypeslib", "distutils", "plotting", "clipboard"}
)


def global_classify(path: str) -> tuple[str, str]:
    """(danger level, reason) of a global a pickle would import, given as ``module.qualname``."""
    module, _, name = _path_split(path)
    top = module.split(".")[0]
    parts = set(module.split(".")[1:]) | set(name.split("."))
    if path in _KNOWN_FUNCTIONS:
        return DANGER_KNOWN, "a standard unpickling helper"
    if top in ("builtins", "__builtin__"):
        base = name.split(".")[0]
        if "." not in name and (base in _SAFE_BUILTINS or is_builtin_exception(base)):
            return DANGER_KNOWN, "a built-in data type"
        return DANGER_DANGEROUS, f"the built-in {name!r} can run code or touch the system"
    if top in _DANGEROUS_MODULES:
        if top == "cloudpickle":
            return DANGER_DANGEROUS, "rebuilds code (a function or class pickled by value)"
        return (
            DANGER_DANGEROUS,
            f"module {top!r} can run programs, touch files or the network, or import code",
        )
    if parts & _DANGEROUS_NAME_PARTS or parts & _DANGEROUS_MODULE_PARTS:
        return DANGER_DANGEROUS, "reads or writes files or runs code"
    if top in _KNOWN_MODULES:
        return DANGER_KNOWN, "a data type of the standard library, numpy, pandas or pydantic"
    return DANGER_UNKNOWN, "a class or function from a module the preview does not know"


def is_builtin_exception(name: str) -> bool:
    import builtins

    candidate = getattr(builtins, name, None)
    return isinstance(candidate, type) and issubclass(candidate, BaseException)


def _path_split(path: str) -> tuple[str, str, str]:
    module, _, name = path.partition(" ") if " " in path else path.rpartition(".")
    return module, ".", name


class PickledGlobal:
    """A global the pickle would import (GLOBAL, STACK_GLOBAL, INST), or an attribute reached by getattr."""

    __slots__ = ("module", "name", "via")

    def __init__(self, module: str, name: str, via: str | None = None) -> None:
        self.module = module
        self.name = name
        self.via = via

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


class PickledCall:
    """A call the pickle would make (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ), with what BUILD etc. add."""

    __slots__ = ("args", "dict_items", "func", "kwargs", "list_items", "opcode", "states")

    def __init__(self, func: Any, args: Any, opcode: str, kwargs: Any = None) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.opcode = opcode
        self.states: list[Any] = []
        self.list_items: list[Any] = []
        self.dict_items: list[tuple[Any, Any]] = []

    @property
    def func_path(self) -> str:
        return self.func.path if isinstance(self.func, PickledGlobal) else "<computed callable>"


class PickledList:
    __slots__ = ("items",)

    def __init__(self, items: list[Any] | None = None) -> None:
        self.items = items if items is not None else []


class PickledDict:
    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs = pairs if pairs is not None else []


class PickledSet:
    __slots__ = ("frozen", "items")

    def __init__(self, items: list[Any] | None = None, *, frozen: bool = False) -> None:
        self.items = items if items is not None else []
        self.frozen = frozen


class PickledBuffer:
    __slots__ = ("index", "readonly")

    def __init__(self, index: int) -> None:
        self.index = index
        self.readonly = False


class PickledPersistent:
    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


class PickledMissing:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Mark:
    """The stack content saved by MARK; kept so a cut pickle can show what it had built so far."""

    __slots__ = ()


_MARK = _Mark()
_PUSH_ARGUMENT = _names(
    "INT BININT BININT1 BININT2 LONG LONG1 LONG4 BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE "
    "SHORT_BINUNICODE BINUNICODE BINUNICODE8 FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING"
)


class PickleMachine:
    """Runs the opcodes of a pickle over symbolic values: nothing is imported, nothing is called."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.globals: list[PickledGlobal] = []
        self.calls: list[PickledCall] = []
        self.protocol: int | None = None
        self.opcodes = 0
        self.buffers = 0
        self.persistent_ids = 0
        self.result: Any = None
        self.complete = False
        self.problem: str | None = None
        self.cut_value: dict[str, Any] | None = None

    def run(self, data: bytes | memoryview) -> None:
        stream = io.BytesIO(data)
        next_opcode_at = 0
        try:
            for opcode, argument, position in pickletools.genops(stream):
                next_opcode_at = stream.tell()
                self.opcodes += 1
                self._step(opcode.name, argument, position)
                if opcode.name == "STOP":
                    self.complete = True
                    return
            self.problem = "the pickle ends without a STOP opcode"
        except (
            ValueError,
            EOFError,
            KeyError,
            IndexError,
            UnicodeDecodeError,
            TypeError,
            OverflowError,
        ) as error:
            self.problem = _genops_problem(error, data)
            self.cut_value = _cut_opcode_value(data, next_opcode_at)

    def _pop_mark(self) -> list[Any]:
        items = self.stack
        self.stack = self.metastack.pop() if self.metastack else []
        return items

    def _pop(self) -> Any:
        if not self.stack:
            raise IndexError("the pickle pops from an empty stack (corrupt pickle)")
        return self.stack.pop()

    def _top(self) -> Any:
        return self.stack[-1] if self.stack else None

    def _step(self, name: str, argument: Any, position: int) -> None:
        stack = self.stack
        if name in _PUSH_ARGUMENT:
            stack.append(argument)
        elif name in ("PROTO",):
            self.protocol = argument
        elif name in ("FRAME",):
            pass
        elif name == "NONE":
            stack.append(None)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name == "EMPTY_LIST":
            stack.append(PickledList())
        elif name == "EMPTY_DICT":
            stack.append(PickledDict())
        elif name == "EMPTY_SET":
            stack.append(PickledSet())
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            size = int(name[-1])
            if len(stack) < size:
                raise IndexError("the pickle builds a tuple from an empty stack (corrupt pickle)")
            items = tuple(stack[-size:])
            del stack[-size:]
            stack.append(items)
        elif name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif name == "TUPLE":
            items = self._pop_mark()
            self.stack.append(tuple(items))
        elif name == "LIST":
            items = self._pop_mark()
            self.stack.append(PickledList(list(items)))
        elif name == "DICT":
            items = self._pop_mark()
            self.stack.append(PickledDict(list(zip(items[::2], items[1::2], strict=False))))
        elif name == "FROZENSET":
            items = self._pop_mark()
            self.stack.append(PickledSet(list(items), frozen=True))
        elif name == "APPEND":
            value = self._pop()
            self._extend(self._top(), [value])
        elif name == "APPENDS":
            items = self._pop_mark()
            self._extend(self._top(), items)
        elif name == "SETITEM":
            value = self._pop()
            key = self._pop()
            self._set_items(self._top(), [(key, value)])
        elif name == "SETITEMS":
            items = self._pop_mark()
            self._set_items(self._top(), list(zip(items[::2], items[1::2], strict=False)))
        elif name == "ADDITEMS":
            items = self._pop_mark()
            target = self._top()
            if isinstance(target, PickledSet):
                target.items.extend(items)
            else:
                raise TypeError("ADDITEMS on a value that is not a set (corrupt pickle)")
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            self.stack.append(self.stack[-1])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            index = int(argument)
            self.stack.append(
                self.memo[index] if index in self.memo else PickledMissing(f"memo entry {index} is missing")
            )
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(argument)] = self.stack[-1]
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.stack[-1]
        elif name in ("GLOBAL", "INST"):
            module, _, qualname = str(argument).partition(" ")
            found = self._global(module, qualname)
            if name == "GLOBAL":
                self.stack.append(found)
            else:
                self._call(found, tuple(self._pop_mark()), "INST")
        elif name == "STACK_GLOBAL":
            qualname = self._pop()
            module = self._pop()
            if not isinstance(module, str) or not isinstance(qualname, str):
                raise TypeError("STACK_GLOBAL needs a module and a name given as text (corrupt pickle)")
            self.stack.append(self._global(module, qualname))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.stack.append(self._global("copyreg.extension", str(argument)))
        elif name == "REDUCE":
            args = self._pop()
            func = self._pop()
            self._call(func, args, "REDUCE")
        elif name == "NEWOBJ":
            args = self._pop()
            cls = self._pop()
            self._call(cls, args, "NEWOBJ")
        elif name == "NEWOBJ_EX":
            kwargs = self._pop()
            args = self._pop()
            cls = self._pop()
            self._call(cls, args, "NEWOBJ_EX", kwargs)
        elif name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise IndexError("OBJ without a class (corrupt pickle)")
            self._call(items[0], tuple(items[1:]), "OBJ")
        elif name == "BUILD":
            state = self._pop()
            target = self._top()
            if isinstance(target, PickledCall):
                target.states.append(state)
            else:
                call = PickledCall(PickledGlobal("<build>", "setstate"), (target,), "BUILD")
                call.states.append(state)
                self.calls.append(call)
                self.stack[-1] = call
        elif name in ("PERSID", "BINPERSID"):
            pid = argument if name == "PERSID" else self._pop()
            self.persistent_ids += 1
            self.stack.append(PickledPersistent(pid))
        elif name == "NEXT_BUFFER":
            self.stack.append(PickledBuffer(self.buffers))
            self.buffers += 1
        elif name == "READONLY_BUFFER":
            if self.stack and isinstance(self.stack[-1], PickledBuffer):
                self.stack[-1].readonly = True
        elif name == "STOP":
            self.result = self._pop()
        else:
            raise ValueError(f"unsupported opcode {name}")

    def _global(self, module: str, qualname: str) -> PickledGlobal:
        found = PickledGlobal(module, qualname)
        self.globals.append(found)
        return found

    def _call(self, func: Any, args: Any, opcode: str, kwargs: Any = None) -> None:
        if (
            isinstance(func, PickledGlobal)
            and func.path in ("builtins.getattr", "__builtin__.getattr")
            and isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], PickledGlobal)
            and isinstance(args[1], str)
        ):
            # getattr(SomeClass, "name") is how protocol 4+ pickles reach class attributes: show the target.
            target = PickledGlobal(args[0].module, f"{args[0].name}.{args[1]}", via="builtins.getattr")
            self.globals.append(target)
            self.stack.append(target)
            return
        call = PickledCall(func, args, opcode, kwargs)
        self.calls.append(call)
        self.stack.append(call)

    def _extend(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, PickledList):
            target.items.extend(items)
        elif isinstance(target, PickledCall):
            target.list_items.extend(items)
        else:
            raise TypeError("APPEND on a value that is not a list (corrupt pickle)")

    def _set_items(self, target: Any, pairs: list[tuple[Any, Any]]) -> None:
        if isinstance(target, PickledDict):
            target.pairs.extend(pairs)
        elif isinstance(target, PickledCall):
            target.dict_items.extend(pairs)
        else:
            raise TypeError("SETITEM on a value that is not a dict (corrupt pickle)")

    def partial_values(self) -> list[Any]:
        """What was on the stack when a cut pickle stopped, outermost first."""
        values: list[Any] = []
        for frame in [*self.metastack, self.stack]:
            values.extend(frame)
        return values


def _genops_problem(error: BaseException, data: bytes | memoryview) -> str:
    text = str(error) or type(error).__name__
    if "bytes" in text and ("remain" in text or "expected" in text):
        return f"the pickle is cut (a value continues beyond the previewed bytes): {text}"
    if isinstance(error, KeyError):
        return f"the pickle refers to a missing memo entry {text} (corrupt pickle)"
    return f"the pickle is corrupt or cut: {text}"


def _cut_opcode_value(data: bytes | memoryview, position: int) -> dict[str, Any] | None:
    """The declared size of a long bytes/str value that runs past the end of the previewed bytes."""
    headers = {
        0x8E: ("builtins.bytes", 8),
        0x96: ("builtins.bytearray", 8),
        0x42: ("builtins.bytes", 4),
        0x8D: ("builtins.str", 8),
        0x58: ("builtins.str", 4),
    }
    for start in (position,):
        if start >= len(data):
            break
        header = headers.get(data[start])
        if header is None:
            continue
        type_, width = header
        if start + 1 + width > len(data):
            continue
        declared = int.from_bytes(bytes(data[start + 1 : start + 1 + width]), "little")
        available = len(data) - (start + 1 + width)
        if declared > available:
            head = bytes(data[start + 1 + width : start + 1 + width + BYTES_MAX_SHOWN])
            node = bytes_node_from_head(head, total=declared, key=None, type_=type_)
            node["note"] = f"{declared} bytes declared; {available} are in the previewed head"
            return node
    return None
