"""Build of the cachecyt core extension.

CACHECYT_DEBUG=1 builds with invariant checks (the CACHECYT_DEBUG macro) and
line tracing; otherwise -O3. `python setup.py build_ext --inplace --cython-annotate`
writes the HTML annotation next to each module."""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

CYTHON_MIN = (3, 0)


class build_ext(_build_ext):
    user_options = _build_ext.user_options + [
        ('cython-annotate', None, 'write Cython HTML annotation'),
        ('cython-directives=', None, 'extra Cython directives, a=b,c=d'),
    ]

    def initialize_options(self):
        super().initialize_options()
        self.cython_annotate = None
        self.cython_directives = None

    def finalize_options(self):
        try:
            import Cython
        except ImportError:
            sys.exit("cachecyt needs Cython >= %d.%d to build" % CYTHON_MIN)
        version = tuple(int(x) for x in Cython.__version__.split('.')[:2])
        if version < CYTHON_MIN:
            sys.exit("cachecyt needs Cython >= %d.%d, found %s" % (CYTHON_MIN + (Cython.__version__,)))
        from Cython.Build import cythonize
        debug = os.environ.get('CACHECYT_DEBUG') == '1'
        directives = {'language_level': 3, 'embedsignature': True}
        if debug:
            directives.update(linetrace=True, boundscheck=True)
        if self.cython_directives:
            for item in self.cython_directives.split(','):
                k, v = item.split('=')
                directives[k.strip()] = v.strip()
        self.distribution.ext_modules[:] = cythonize(
            self.distribution.ext_modules, compiler_directives=directives,
            annotate=bool(self.cython_annotate), compile_time_env={})
        super().finalize_options()


def extension(name, source):
    debug = os.environ.get('CACHECYT_DEBUG') == '1'
    macros = [('CACHECYT_DEBUG', '1'), ('CYTHON_TRACE', '1')] if debug else []
    return Extension(
        name, [source], include_dirs=['cachecyt/includes'], define_macros=macros,
        extra_compile_args=['-O0', '-g'] if debug else ['-O3'],
        libraries=['pthread'])


setup(
    ext_modules=[extension('cachecyt._core', 'cachecyt/_core.pyx')],
    cmdclass={'build_ext': build_ext},
)
