"""The shape of plugins/: module_utils in layers that import only downward, and plugins that
import only module_utils.

Layers, low to high: common, formats, archive, transport, store, client, ensemble, tree,
then the two workflows backup and restore, which never import each other.  LAYERS below is
the table of allowed directions; each layer's ``__init__.py`` docstring says the same in its
"May import:" line, and a test compares the two.  docs/development.md draws them.

Every import of the collection is read with ast (nothing is imported), including imports
nested in try blocks and functions.
"""
import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
MODULE_UTILS = os.path.join(PLUGINS, "module_utils")
PREFIX = "ansible_collections.zkops.zookeeper.plugins."

ORDER = ("common", "formats", "archive", "transport", "store", "client", "ensemble", "tree",
         "backup", "restore")
# The layers each layer may import besides itself.
LAYERS = {
    "common": (),
    "formats": ("common",),
    "archive": ("common", "formats"),
    "transport": ("common",),
    "store": ("common", "formats", "archive", "transport"),
    "client": ("common",),
    "ensemble": ("common", "formats", "client"),
    "tree": ("common", "formats", "archive", "transport", "store", "client", "ensemble"),
    "backup": ("common", "formats", "archive", "transport", "store", "client", "ensemble", "tree"),
    "restore": ("common", "formats", "archive", "transport", "store", "client", "ensemble", "tree"),
}
# Plugins other than module_utils import module_utils only, never one another.
PLUGIN_TYPES_IMPORTING = {"modules": ("module_utils",), "action": ("module_utils",),
                          "filter": ("module_utils",), "doc_fragments": ()}
# Imports of the collection inside a function, as (file under plugins/, imported module):
# none should be needed (none breaks a cycle).  An entry that no longer occurs fails, so the
# list only shrinks.
FUNCTION_IMPORTS_ALLOWED = set()


def _py_files(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(dirpath, name), PLUGINS).replace(os.sep, "/")


def _module_name(rel):
    """'module_utils/store/names.py' -> 'module_utils.store.names' (packages by their name)."""
    name = rel[:-len(".py")].replace("/", ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _exists(name):
    base = os.path.join(PLUGINS, *name.split("."))
    return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))


def _imports(rel):
    """[(line, imported module under plugins/, inside a function)] for the collection's imports."""
    with open(os.path.join(PLUGINS, rel)) as f:
        tree = ast.parse(f.read(), rel)
    package = _module_name(rel).split(".")
    if not rel.endswith("__init__.py"):
        package = package[:-1]
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith(PREFIX):
                        out.append((child.lineno, alias.name[len(PREFIX):], in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[:len(package) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                elif child.module and (child.module + ".").startswith(PREFIX):
                    module = child.module[len(PREFIX):]
                else:
                    module = None
                if module is not None:
                    for alias in child.names:
                        # "from package import module" imports the module; else a name of module.
                        sub = (module + "." if module else "") + alias.name
                        out.append((child.lineno, sub if _exists(sub) else module, in_function))
            visit(child, nested)

    visit(tree, False)
    return out


FILES = list(_py_files(PLUGINS))
UTILS = [r for r in FILES if r.startswith("module_utils/")]
IMPORTS = dict((r, _imports(r)) for r in FILES)


def _layer(module):
    """The layer of 'module_utils.<layer>...', else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "module_utils" and len(parts) > 1 else None


def test_the_table_names_every_layer_in_order():
    assert tuple(LAYERS) == ORDER
    for layer, allowed in LAYERS.items():
        assert layer not in allowed, layer
        for other in allowed:
            assert ORDER.index(other) < ORDER.index(layer), \
                "layer %s may import %s, which is not below it" % (layer, other)
    assert "restore" not in LAYERS["backup"] and "backup" not in LAYERS["restore"]


def _may_import(docstring):
    """The layers named by the 'May import:' line of a layer's docstring."""
    m = re.search(r"^May import: (.*?)\.?$", docstring or "", re.M)
    assert m, "no 'May import:' line"
    text = m.group(1).strip()
    if text == "nothing of the collection":
        return set()
    m = re.match(r"every layer but (\w+)$", text)
    if m:
        return set(ORDER) - {m.group(1)}
    return set(w.strip() for w in text.split(","))


@pytest.mark.parametrize("layer", ORDER)
def test_each_layer_docstring_says_what_the_table_allows(layer):
    init = os.path.join(MODULE_UTILS, layer, "__init__.py")
    assert os.path.isfile(init), "module_utils/%s/__init__.py is missing" % layer
    with open(init) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    said = _may_import(doc) - {layer}
    assert said == set(LAYERS[layer]), (
        "module_utils/%s/__init__.py says it may import %s; tests/unit/test_layers.py LAYERS "
        "allows %s: change both together" % (layer, sorted(said), sorted(LAYERS[layer])))


def test_every_module_utils_file_lives_in_a_layer_package():
    wrong = []
    for rel in UTILS:
        parts = rel.split("/")
        if len(parts) < 3:
            wrong.append("%s: module_utils holds only the layer packages" % rel)
        elif parts[1] not in LAYERS:
            wrong.append("%s: %s is not a layer (%s)" % (rel, parts[1], ", ".join(ORDER)))
    for layer in ORDER:
        if not os.path.isfile(os.path.join(MODULE_UTILS, layer, "__init__.py")):
            wrong.append("module_utils/%s/__init__.py is missing" % layer)
    assert not wrong, "\n".join(wrong)


def test_module_utils_import_only_their_own_layer_and_the_layers_below():
    wrong = []
    for rel in UTILS:
        layer = rel.split("/")[1]
        allowed = set(LAYERS.get(layer, ())) | {layer}
        for line, module, _in_function in IMPORTS[rel]:
            target = _layer(module)
            if target is None:
                wrong.append("%s:%d imports %s: module_utils import only module_utils"
                             % (rel, line, module))
            elif target not in allowed:
                wrong.append("%s:%d imports %s: layer %s may import only %s"
                             % (rel, line, module, layer, ", ".join(sorted(allowed))))
    assert not wrong, "\n".join(wrong)


def test_the_backup_and_restore_workflows_never_import_each_other():
    wrong = []
    for rel in UTILS:
        layer = rel.split("/")[1]
        for line, module, _in_function in IMPORTS[rel]:
            if {layer, _layer(module)} == {"backup", "restore"}:
                wrong.append("%s:%d imports %s: the workflows backup and restore are siblings, "
                             "what both need belongs in a layer below them" % (rel, line, module))
    assert not wrong, "\n".join(wrong)


def test_plugins_import_only_module_utils_never_one_another():
    wrong = []
    for rel in FILES:
        kind = rel.split("/")[0]
        if kind == "module_utils":
            continue
        allowed = PLUGIN_TYPES_IMPORTING.get(kind)
        if allowed is None:
            wrong.append("%s: plugins/%s has no rule in test_layers.PLUGIN_TYPES_IMPORTING" % (rel, kind))
            continue
        for line, module, _in_function in IMPORTS[rel]:
            if module.split(".")[0] not in allowed:
                wrong.append("%s:%d imports %s: plugins/%s may import %s" % (
                    rel, line, module, kind, " and ".join(allowed) or "nothing of the collection"))
    assert not wrong, "\n".join(wrong)


def test_no_import_of_the_collection_inside_a_function():
    wrong = []
    seen = set()
    for rel in FILES:
        for line, module, in_function in IMPORTS[rel]:
            if in_function:
                seen.add((rel, module))
                if (rel, module) not in FUNCTION_IMPORTS_ALLOWED:
                    wrong.append("%s:%d imports %s inside a function: import it at the top "
                                 "(an import cycle is not the way out: move the shared code down "
                                 "a layer)" % (rel, line, module))
    for rel, module in sorted(FUNCTION_IMPORTS_ALLOWED - seen):
        wrong.append("%s no longer imports %s inside a function: remove it from "
                     "test_layers.FUNCTION_IMPORTS_ALLOWED" % (rel, module))
    assert not wrong, "\n".join(wrong)


def _cycles(graph):
    """Strongly connected components with more than one module, or a module importing itself."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_no_import_cycle_between_module_utils_modules():
    graph = {}
    for rel in UTILS:
        if rel.endswith("__init__.py"):
            continue
        source = _module_name(rel)
        for _line, module, _in_function in IMPORTS[rel]:
            if _layer(module) is not None and module != source.rsplit(".", 1)[0]:
                graph.setdefault(source, set()).add(module)
    cycles = _cycles(graph)
    assert not cycles, "\n".join(
        "import cycle between %s: %s" % (", ".join(c), "; ".join(
            "%s imports %s" % (a, b) for a in c for b in sorted(graph.get(a, ())) if b in c))
        for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
