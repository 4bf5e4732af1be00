"""test_check_layers.py: scripts/check-layers against trees with a known
drawing. The real tree passes (no circle, no upward arrow, cuda/ reached
only from the engine's CUDA backend); copies of it with one planted bad
include or call fail naming it; small made-up trees show each rule on its
own (and what must not count: statics, members, comments, strings)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from pycheck import expect as check, finish  # noqa: E402

ROOT = os.environ.get('OVX_SOURCE_ROOT') or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
SCRIPT = os.path.join(ROOT, 'scripts', 'check-layers')


def run(root):
    p = subprocess.run(['/usr/bin/python3', SCRIPT, root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def append(root, rel, text):
    with open(os.path.join(root, rel), 'a', encoding='utf-8') as f:
        f.write(text)


# a tiny house that follows every rule: common < model < cuda < engine < extract
BASE = {
    'src/common/err.h': 'int ovx_err(int c);\n',
    'src/common/err.c': '#include "common/err.h"\nint ovx_err(int c)\n{\n    return c;\n}\n',
    'src/model/fwd.h': '#include "common/err.h"\nint ovx_fwd(int x);\n',
    'src/model/fwd.c': ('#include "model/fwd.h"\n'
                        'static int helper(int x)\n{\n    return x + 1;\n}\n'
                        'int ovx_fwd(int x)\n{\n    return ovx_err(helper(x));\n}\n'),
    'cuda/k.h': 'int ovx_k(int x);\n',
    'cuda/k.c': '#include "cuda/k.h"\n#include "model/fwd.h"\nint ovx_k(int x)\n{\n    return ovx_fwd(x);\n}\n',
    'src/engine/engine.h': 'int ovx_engine_run(int x);\n',
    'src/engine/engine.c': ('#include "engine/engine.h"\n#include "engine/backend.h"\n'
                            'int ovx_engine_run(int x)\n{\n    return ovx_backend_run(x);\n}\n'),
    'src/engine/backend.h': 'int ovx_backend_run(int x);\n',
    'src/engine/cuda_backend.c': ('#include "cuda/k.h"\n#include "engine/backend.h"\n'
                                  'int ovx_backend_run(int x)\n{\n    return ovx_k(x);\n}\n'),
    'src/extract/a.h': 'int ovx_a(int x);\n',
    'src/extract/a.c': ('#include "extract/a.h"\n#include "extract/b.h"\n#include "engine/engine.h"\n'
                        'struct s { int ovx_a_member; };\n'
                        'int ovx_a(int x)\n{\n    return ovx_b(ovx_engine_run(x));\n}\n'),
    'src/extract/b.h': 'int ovx_b(int x);\n',
    # b is below a: mentions of a in comments, strings, members and a static
    # of its own name are no calls
    'src/extract/b.c': ('#include "extract/b.h"\n/* ovx_a(x) calls this */\n'
                        'static const char *why = "not ovx_a(x)";\n'
                        'struct t { int (*ovx_a)(int); };\n'
                        'static int helper(int x)\n{\n    struct t v = {0};\n    (void)v.ovx_a;\n'
                        '    return x + (why != 0);\n}\n'
                        'int ovx_b(int x)\n{\n    return helper(x);\n}\n'),
}


def house(tmp, name, extra=None):
    root = os.path.join(tmp, name)
    for rel, text in BASE.items():
        write(root, rel, text)
    for rel, text in (extra or {}).items():
        write(root, rel, text)
    return root


def expect_fail(root, what, needles):
    rc, out = run(root)
    check(rc == 1, '%s: exit %d, expected 1:\n%s' % (what, rc, out))
    for n in needles:
        check(n in out, '%s: "%s" not in the report:\n%s' % (what, n, out))


def main():
    tmp = tempfile.mkdtemp(prefix='ovx-layers-')
    try:
        # the project itself
        rc, out = run(ROOT)
        check(rc == 0, 'the tree itself: exit %d:\n%s' % (rc, out))
        check(out.rstrip().endswith('ok') and 'arrows' in out, 'the tree itself: no summary line:\n' + out)

        # the made-up house passes as it is
        rc, out = run(house(tmp, 'good'))
        check(rc == 0 and 'circle' not in out and 'upward' not in out, 'good house: exit %d:\n%s' % (rc, out))

        # an upward include: the model knows the extract stage
        r = house(tmp, 'up-include')
        append(r, 'src/model/fwd.c', '#include "extract/a.h"\n')
        expect_fail(r, 'upward include', ['upward arrow src/model/fwd (model) -> src/extract/a (extract)',
                                          '#include "extract/a.h"'])

        # an upward call without any include
        r = house(tmp, 'up-call')
        append(r, 'src/common/err.c', 'int ovx_err2(int c)\n{\n    return ovx_engine_run(c);\n}\n')
        expect_fail(r, 'upward call', ['upward arrow src/common/err (common) -> src/engine/engine (engine)',
                                       'uses ovx_engine_run'])

        # a circle inside one stage: the lower file calls back into its user
        r = house(tmp, 'circle')
        append(r, 'src/extract/b.c', 'int ovx_b2(int x)\n{\n    return ovx_a(x);\n}\n')
        expect_fail(r, 'circle', ['circle: src/extract/a <-> src/extract/b', 'uses ovx_a', 'uses ovx_b'])

        # cuda/ reached from outside the engine's CUDA backend, even downward
        r = house(tmp, 'private')
        append(r, 'src/engine/engine.c', '#include "cuda/k.h"\n')
        expect_fail(r, 'private stage', ['src/engine/engine.c uses the cuda stage, private to src/engine/cuda_*'])
        r = house(tmp, 'private-extract')
        append(r, 'src/extract/a.c', 'int ovx_a3(int x)\n{\n    return ovx_k(x);\n}\n')
        expect_fail(r, 'private stage by call', ['src/extract/a.c uses the cuda stage', 'uses ovx_k'])

        # a folder of src/ that is no declared stage
        r = house(tmp, 'undeclared', {'src/misc/m.c': '#include "common/err.h"\n'})
        expect_fail(r, 'undeclared stage', ['stage misc not declared in STAGES'])

        # a copy of the real tree with one bad include planted in the model
        r = os.path.join(tmp, 'real')
        for top in ('src', 'cuda', 'scripts'):
            shutil.copytree(os.path.join(ROOT, top), os.path.join(r, top),
                            ignore=shutil.ignore_patterns('__pycache__'))
        rc, out = run(r)
        check(rc == 0, 'copy of the tree: exit %d:\n%s' % (rc, out))
        append(r, 'src/model/forward.c', '#include "extract/extract.h"\n')
        expect_fail(r, 'planted include in the real tree',
                    ['upward arrow src/model/forward (model) -> src/extract/extract (extract)'])
        # and the CLI including cuda/ (downward, but only the engine may)
        r2 = os.path.join(tmp, 'real2')
        shutil.copytree(os.path.join(ROOT, 'src'), os.path.join(r2, 'src'))
        shutil.copytree(os.path.join(ROOT, 'cuda'), os.path.join(r2, 'cuda'))
        append(r2, 'src/cli/main.c', '#include "cuda/ovx_cuda.h"\n')
        expect_fail(r2, 'the CLI including cuda/', ['src/cli/main.c uses the cuda stage'])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish('check-layers')


if __name__ == '__main__':
    sys.exit(main())
