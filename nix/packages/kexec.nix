# The kexec bundle (docs/kexec-bundle.md): a directory with
#   bzImage (x86_64) or Image (aarch64)  the kernel of the installer environment
#   initrd.gz                            its initrd, the whole store inside as a squashfs
#   bundle.json                          format, arch, file names, kernel parameters (init=...),
#                                        the python inside, the unpacked initrd size, and the
#                                        flake sources inside (`flakeInputs`, see
#                                        flake-inputs.nix: what the host's flake.lock pins)
#   run-installer                        nixremote install --bundle <this dir> "$@"
#   write-runtime-info                   nixremote info "$@"  (collect a host's runtime info)
{ lib, stdenv, runCommand, gzip, jq, installer, nixremote }:
let
  inherit (installer) config;
  build = config.system.build;
  kernelFile = config.system.boot.loader.kernelFile;
  kernelParams = "init=${build.toplevel}/init ${toString config.boot.kernelParams}";
  arch = stdenv.hostPlatform.parsed.cpu.name;
  python = "${config.nixremote.installer.python}/bin/python3";
  flakeInputs = build.nixremoteFlakeInputs;
in
runCommand "nixremote-kexec-${stdenv.hostPlatform.system}"
{
  nativeBuildInputs = [ gzip jq ];
  passthru = { inherit installer kernelParams; };
  meta.description = "nixremote's kexec bundle: the installer environment, ready for nixremote install";
}
  ''
    mkdir -p $out
    cp ${build.kernel}/${kernelFile} $out/${kernelFile}
    cp ${build.netbootRamdisk}/initrd $out/initrd.gz
    chmod 0644 $out/${kernelFile} $out/initrd.gz

    # What the kernel must hold in RAM at once: the unpacked initramfs (concatenated members).
    unpacked=$(gzip -dc $out/initrd.gz | wc -c)

    jq -n \
      --arg arch ${lib.escapeShellArg arch} \
      --arg kernel ${lib.escapeShellArg kernelFile} \
      --arg params ${lib.escapeShellArg kernelParams} \
      --arg python ${lib.escapeShellArg python} \
      --argjson unpacked "$unpacked" \
      --slurpfile flakeInputs ${flakeInputs} \
      '{format: 1, arch: $arch, kernel: $kernel, initrd: "initrd.gz",
        kernelParams: $params, python: $python, initrdUnpackedBytes: $unpacked,
        flakeInputs: $flakeInputs[0]}' \
      > $out/bundle.json

    cat > $out/run-installer <<EOS
    #!${stdenv.shell}
    # Install NixOS onto [USER@]HOST with this bundle; any option of nixremote install applies.
    exec ${nixremote}/bin/nixremote install --bundle "$out" "\$@"
    EOS
    cat > $out/write-runtime-info <<EOS
    #!${stdenv.shell}
    # Collect the runtime info of [USER@]HOST over SSH (nixremote info --help for the options).
    exec ${nixremote}/bin/nixremote info "\$@"
    EOS
    chmod 0755 $out/run-installer $out/write-runtime-info
  ''
