# A test double for nixpkgs' `pkgs` (no nixpkgs here): every package the project's modules or the
# re-stated nixpkgs modules name is a fake derivation, a set that `lib.isDerivation` accepts and
# whose `outPath` is a well-formed store path, so `types.package`, `types.pathInStore` and string
# interpolation behave as with real packages. The builders (`runCommand`, `writers`, ...) return
# fake derivations too and keep their arguments in `passthru`-like attributes for the tests.
{ lib, hostPlatform }:
let
  fakeHash = name: builtins.substring 0 32 (builtins.hashString "sha256" name);
  drv = name: extra:
    let
      self = {
        type = "derivation";
        inherit name;
        outPath = "${builtins.storeDir}/${fakeHash name}-${name}";
        drvPath = "${builtins.storeDir}/${fakeHash "drv-${name}"}-${name}.drv";
        outputName = "out";
        outputs = [ "out" ];
        out = self;
        meta = { };
      } // extra;
    in
    self;
  pkg = name: drv name { };
  named = names: lib.genAttrs names pkg;
in
lib.fix (pkgs: named [
  "python3"
  "kexec-tools"
  "gptfdisk"
  "dosfstools"
  "util-linux"
  "iproute2"
  "coreutils"
  "busybox"
  "stdenvNoCC"
  "jq"
  "makeInitrdNGTool"
  "shadow"
  "zfs"
  "openssh"
  "grub2"
  "linux-firmware"
  "git"
  "htop"
  "linux"
  "testdisk"
]
// {
  stdenv = drv "stdenv" { inherit hostPlatform; shell = "/bin/sh"; };
  # The interpreter `lib.getExe` finds, for modules that call it.
  bashInteractive = drv "bash-interactive" { shellPath = "/bin/bash"; };
  writers.writePython3 = name: options: text: drv name { inherit options text; };
  writeText = name: text: drv name { inherit text; };
  runCommand = name: env: script: drv name { inherit env script; };
  closureInfo = { rootPaths }: drv "closure-info" { inherit rootPaths; };
  callPackage = fn: args:
    let
      f = if builtins.isFunction fn then fn else import fn;
      auto = builtins.intersectAttrs (builtins.functionArgs f) ({ inherit lib; } // pkgs);
    in
    f (auto // args);
})
