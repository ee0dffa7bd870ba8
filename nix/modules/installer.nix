# The installer environment: what a host runs after the kexec (or a netboot, or the ISO).
#
# netboot-minimal with: the nixremote package (installer variant), kexec-tools, gptfdisk (sgdisk),
# dosfstools, ZFS, Nix and nixos-install; sshd with keys only. At boot it restores what the
# controller appended to the initrd (docs/kexec-bundle.md):
#   ssh/ssh_host_ed25519_key(.pub) -> /etc/ssh/ (0600/0644)   the pinned installer host key
#   ssh/authorized_keys            -> /root/.ssh/authorized_keys (0600)
#   *.json                         -> /root/network/          (runtime-info.json, addrs.json, ...)
#   nixremote/nixremote.pyz        -> /root/nixremote.pyz
# and comes up on the old system's addresses (restore_network.py), with DHCP as the fallback.
#
# It carries the sources of the flakes it was built from (`flakeInputs`: nixremote's own and its
# nixpkgs) in its store, and says which they are in /etc/nixremote/flake-inputs.json (also in the
# bundle's bundle.json): the host flake's flake.lock pins exactly these store paths, so
# nixos-install evaluates the host's configuration without fetching anything.
#
# Size: see docs/nix.md ("The installer image") for each reduction and its reason.
{ config, lib, pkgs, modulesPath, ... }:
let
  inherit (lib) mkDefault mkForce mkIf mkOption types;
  cfg = config.nixremote.installer;
  isx86 = pkgs.stdenv.hostPlatform.isx86;
  flakeInputsFile = pkgs.callPackage ../packages/flake-inputs.nix { inputs = cfg.flakeInputs; };
  restoreNetwork = pkgs.writers.writePython3 "nixremote-restore-network"
    { flakeIgnore = [ "E501" "W503" ]; }
    (builtins.readFile ../../src/nixremote/installers/restore_network.py);
in
{
  # The boot medium (netboot for kexec, or the ISO) is imported by ../installer/netboot.nix or
  # ../installer/iso.nix; this module is what both share.
  imports = [
    # No perl in the activation: /etc as an overlay, userborn for users, systemd in the initrd.
    (modulesPath + "/profiles/perlless.nix")
  ];

  # base.nix adds a long list of rescue tools (w3m, testdisk, vim, ...) and file systems that
  # an unattended installer never uses.
  disabledModules = [ "profiles/base.nix" ];

  options.nixremote.installer = {
    package = mkOption {
      type = types.package;
      description = "nixremote for the installer (the flake sets its installer variant).";
    };
    flakeInputs = mkOption {
      type = types.attrsOf types.raw;
      default = { };
      example = lib.literalExpression "{ nixremote = self; inherit nixpkgs; }";
      description = ''
        The flakes whose sources the image carries, by input name (the root flake sets
        `nixremote` and `nixpkgs`). The host flake's flake.lock pins them as `path` inputs.
      '';
    };
    python = mkOption {
      type = types.package;
      default = pkgs.python3;
      defaultText = "pkgs.python3";
      description = "The python3 on PATH, for the nixremote.pyz zipapp (bundle.json `python`).";
    };
    firmware = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.linux-firmware ]";
      description = ''
        Firmware in the image. None by default: virtio and the usual server NICs (Intel
        e1000e/igb/ixgbe) need none, and linux-firmware would be the largest single item of the
        image. Add it for NICs that need firmware (Broadcom bnx2x, some Realtek, Mellanox).
      '';
    };
    squashfsCompression = mkOption {
      type = types.str;
      default = "xz -Xdict-size 100% -b 1M" + lib.optionalString isx86 " -Xbcj x86";
      defaultText = "xz with 1 MiB blocks and dictionary (+ BCJ on x86)";
      description = ''
        mksquashfs compression of the store image (the bulk of the initrd or ISO). On a sample of
        executables xz with 1 MiB blocks and BCJ was 20 % smaller than the default zstd-19
        (docs/nix.md has the figures); it costs CPU only for the files the installer reads.
      '';
    };
    checkPerlless = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Fail the build if any store path of the image has "perl" in its name
        (`system.forbiddenDependenciesRegexes`). Off by default until the image has been built
        with it on every supported nixpkgs release.
      '';
    };
  };

  config = {
    # Stronger than mkDefault: the installation CD's profile sets its own mkDefault (for years
    # "18.03", lately lib.trivial.release) and two mkDefaults that differ do not evaluate; weaker
    # than a plain definition, so a configuration built on this module can still set its own.
    system.stateVersion = lib.mkOverride 900 lib.trivial.release;

    # --- size --------------------------------------------------------------------------------
    documentation.enable = mkForce false;
    documentation.nixos.enable = mkForce false;
    documentation.man.enable = mkForce false;
    documentation.info.enable = mkForce false;
    documentation.doc.enable = mkForce false;
    system.installer.channel.enable = false; # no copy of nixpkgs: the host flake pins its own
    installer.cloneConfig = false;
    # No stdenv/gcc "to speed up installs"; only the flake sources the host flake is locked to.
    system.extraDependencies = mkForce (map (flake: flake.outPath) (lib.attrValues cfg.flakeInputs));
    environment.etc."nixremote/flake-inputs.json".source = flakeInputsFile;
    system.build.nixremoteFlakeInputs = flakeInputsFile;
    nix.registry = mkForce { };
    hardware.enableRedistributableFirmware = mkForce false;
    hardware.firmware = mkForce cfg.firmware;
    networking.wireless.enable = mkForce false;
    fonts.fontconfig.enable = false;
    boot.supportedFilesystems = { zfs = true; vfat = true; ext4 = true; };
    system.forbiddenDependenciesRegexes = mkIf (!cfg.checkPerlless) (mkForce [ ]);

    # --- no passwords ------------------------------------------------------------------------
    # installation-device.nix gives root and `nixos` empty passwords: lock both. The console
    # (the hoster's web console) logs in as root without a password; SSH takes keys only.
    users.users.root.initialHashedPassword = mkForce "!";
    users.users.nixos.initialHashedPassword = mkForce "!";
    services.getty.autologinUser = mkForce "root";
    services.getty.helpLine = mkForce ''
      nixremote installer. Log in over SSH with the key handed over by `nixremote install`.
    '';
    services.openssh = {
      enable = true;
      settings = {
        PermitRootLogin = mkForce "prohibit-password";
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
      };
      hostKeys = [{ type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }];
    };

    # --- tools -------------------------------------------------------------------------------
    environment.systemPackages = [
      cfg.package
      cfg.python
      pkgs.kexec-tools
      pkgs.gptfdisk
      pkgs.dosfstools
      pkgs.util-linux
      pkgs.iproute2
      config.boot.zfs.package
    ];
    environment.defaultPackages = mkForce [ ];
    nix.settings = {
      experimental-features = [ "nix-command" "flakes" ];
      # The host's build happens here, in RAM: keep fewer build logs and no GC roots around.
      keep-outputs = false;
      keep-derivations = false;
    };
    networking.hostId = mkDefault "8425e349"; # ZFS needs one; the installed host has its own
    environment.etc."nixremote-installer".text = "1\n"; # how nixremote knows where it runs

    # --- network -----------------------------------------------------------------------------
    networking.useNetworkd = true;
    networking.useDHCP = false;
    networking.firewall.enable = false; # sshd is the only service
    systemd.network.networks."99-nixremote-dhcp" = {
      matchConfig.Type = "ether";
      networkConfig.DHCP = "yes";
    };
    systemd.services.nixremote-restore-network = {
      description = "Restore the old system's addresses from the runtime info";
      before = [ "network-pre.target" "systemd-networkd.service" ];
      wants = [ "network-pre.target" ];
      wantedBy = [ "multi-user.target" ];
      unitConfig.ConditionPathExists = "/root/network/runtime-info.json";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${restoreNetwork} /root/network/runtime-info.json /run/systemd/network";
      };
    };

    # Serial and VGA consoles (hoster consoles, IPMI SOL, the test VM).
    boot.kernelParams = [ "console=ttyS0,115200n8" ] ++ lib.optional (!isx86) "console=ttyAMA0,115200n8" ++ [ "console=tty0" ];

    # --- the appended archive ----------------------------------------------------------------
    boot.initrd.systemd.enable = true;
    boot.initrd.systemd.services.nixremote-restore-handoff = {
      description = "Restore the keys and files nixremote appended to the initrd";
      unitConfig = {
        DefaultDependencies = false;
        RequiresMountsFor = "/sysroot /dev";
      };
      wantedBy = [ "initrd.target" ];
      before = [ "initrd-switch-root.target" ];
      serviceConfig.Type = "oneshot";
      # The archive's files are at the root of the initramfs, this unit's working directory.
      # The host key goes to /var/lib first: /etc becomes an overlay later in the boot, and a
      # file written below its mount point would be hidden; nixremote-host-key moves it.
      script = ''
        set -u
        cd /
        mkdir -m 700 -p /sysroot/root/.ssh /sysroot/var/lib/nixremote/handoff
        mkdir -m 755 -p /sysroot/root/network
        if [ -f ssh/authorized_keys ]; then
          install -m 600 ssh/authorized_keys /sysroot/root/.ssh/authorized_keys
        fi
        for key in ssh/ssh_host_ed25519_key ssh/ssh_host_ed25519_key.pub; do
          if [ -f "$key" ]; then install -m 600 "$key" /sysroot/var/lib/nixremote/handoff/; fi
        done
        for f in *.json; do
          if [ -f "$f" ]; then install -m 644 "$f" /sysroot/root/network/; fi
        done
        if [ -f nixremote/nixremote.pyz ]; then
          install -m 644 nixremote/nixremote.pyz /sysroot/root/nixremote.pyz
        fi
      '';
    };

    # The pinned host key into /etc/ssh before sshd starts (or generates a key of its own).
    systemd.services.nixremote-host-key = {
      description = "Install the SSH host key handed over by nixremote";
      wantedBy = [ "multi-user.target" "sshd.service" ];
      before = [ "sshd.service" "sshd-keygen.service" ];
      unitConfig.ConditionPathExists = "/var/lib/nixremote/handoff/ssh_host_ed25519_key";
      serviceConfig.Type = "oneshot";
      script = ''
        mkdir -p /etc/ssh
        install -m 600 /var/lib/nixremote/handoff/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
        if [ -f /var/lib/nixremote/handoff/ssh_host_ed25519_key.pub ]; then
          install -m 644 /var/lib/nixremote/handoff/ssh_host_ed25519_key.pub \
            /etc/ssh/ssh_host_ed25519_key.pub
        fi
      '';
    };
  };
}
