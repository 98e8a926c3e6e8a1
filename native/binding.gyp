{
  # Built by scripts/build-native.js (npm run build:native, and on npm install). Needs a C++17 compiler and
  # OpenBLAS (Debian/Ubuntu: apt-get install g++ make libopenblas-dev; macOS: brew install openblas).
  'variables': {
    # The addon is compiled on the machine that runs it, so it may use all of that CPU's vector units;
    # set NATIVECPU_MARCH (e.g. x86-64-v3) when the build is copied to other machines.
    'nativecpu_march%': '<!(node -p "process.env.NATIVECPU_MARCH || \'native\'")',
  },
  'targets': [
    {
      'target_name': 'nativecpu',
      'sources': [
        'src/addon.cc',
        'src/conv.cc',
        'src/elementwise.cc',
        'src/fused.cc',
        'src/layout.cc',
        'src/matmul.cc',
        'src/pool.cc',
        'src/reduce.cc',
      ],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-O2'],
      # No -ffast-math: the kernels must keep NaN and inf exactly as tfjs's cpu kernels do. Without errno and
      # trap semantics the compiler may still vectorise sqrt and the branch-free selects.
      'cflags_cc': ['-std=c++17', '-O3', '-march=<(nativecpu_march)', '-fno-math-errno', '-fno-trapping-math',
                    '-Wall', '-Wextra', '-pthread'],
      'libraries': ['-lopenblas', '-pthread'],
      'conditions': [
        ['OS=="mac"', {
          'xcode_settings': {
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'OTHER_CPLUSPLUSFLAGS': ['-O3', '-fno-math-errno', '-fno-trapping-math'],
            'OTHER_LDFLAGS': ['-L/opt/homebrew/opt/openblas/lib', '-L/usr/local/opt/openblas/lib'],
          },
        }],
      ],
    },
  ],
}
