# The base of every host installed by nixremote: the runtime info, users without passwords, Nix
# with flakes, the editable host flake in /etc/nixos (registered as `installed`), the flakes it is
# built from kept on the host (so it rebuilds offline), and the boot loader.
{ config, lib, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  cfg = config.nixremote;
  disks = import ../lib/disks.nix;
  info = cfg.runtimeInfo;
  hasInfo = info != null;
  rootKeys = config.users.users.root.openssh.authorizedKeys;
  bootModeOf = mode:
    if mode == "bios" then "bios"
    else if mode == "uefi" then "uefi"
    else "hybrid";
in
{
  options.nixremote = {
    runtimeInfo = mkOption {
      type = types.nullOr types.attrs;
      default = null;
      description = ''
        The parsed runtime-info.json of this host (set by `nixremote.lib.makeSystem`). Its network
        facts, disk, boot mode and root keys configure the other nixremote modules.
      '';
    };

    persistDir = mkOption {
      type = types.str;
      default = "/persist";
      description = "Where state that survives the root reset lives (the `safe/persist` dataset).";
    };

    flake = {
      source = mkOption {
        type = types.nullOr types.raw;
        default = null;
        description = ''
          The flake this system is built from (`self` of the host or fleet flake); its revision,
          when it has one, becomes `system.configurationRevision`.
        '';
      };
      editable = mkOption {
        type = types.str;
        default = "/etc/nixos";
        description = ''
          The host flake as the host edits it, registered as `installed` in the Nix registry:
          `nixos-rebuild switch --flake /etc/nixos#installed` (or `installed#installed`) builds
          what is there now, edits included.
        '';
      };
      inputs = mkOption {
        type = types.attrsOf types.raw;
        default = { };
        defaultText = "{ nixremote = <nixremote's flake>; nixpkgs = <its nixpkgs>; } (makeSystem)";
        description = ''
          The flakes the system is built with, by input name (`nixremote.lib.makeSystem` sets
          `nixremote` and `nixpkgs`). Their sources stay in the system's closure and each but
          nixpkgs (which nixpkgs registers itself) is pinned in the Nix registry under its name,
          so the host flake's flake.lock, which pins the same store paths, evaluates offline.
        '';
      };
      configurationName = mkOption {
        type = types.str;
        default = "installed";
        description = "The attribute of this system in the flake's nixosConfigurations.";
      };
    };

    boot = {
      mode = mkOption {
        type = types.enum [ "bios" "uefi" "hybrid" ];
        default = if hasInfo then bootModeOf (info.bootMode or "unknown") else "hybrid";
        defaultText = "from runtimeInfo.bootMode: bios, uefi, or hybrid when unknown";
        description = ''
          How GRUB is installed: `bios` into the BIOS boot partition (EF02) of each disk,
          `uefi` as the removable EFI loader on the ESP, `hybrid` both (the disk then boots
          whichever way the firmware starts it).
        '';
      };
      devices = mkOption {
        type = types.listOf types.str;
        default = if hasInfo then [ info.diskToFormat ] else [ ];
        defaultText = "[ runtimeInfo.diskToFormat ]";
        description = ''
          The whole disks (by-id paths) that GRUB is installed on. With more than one (the
          `mirror` disk layout), each disk's partition 3 is mounted (/boot, /boot-fallback, ...)
          and gets its own GRUB.
        '';
      };
    };
  };

  config = mkIf hasInfo {
    # No passwords anywhere: root's password stays locked (NixOS' default "!"), root logs in with
    # the keys of the runtime info, over SSH only, and no user may carry a clear-text password.
    users.mutableUsers = mkDefault false;
    users.users.root.openssh.authorizedKeys.keys = info.rootAuthorizedKeys or [ ];
    assertions = [
      {
        assertion = lib.all (u: u.password == null && u.initialPassword == null)
          (lib.attrValues config.users.users);
        message = "nixremote: set no clear-text password (users.users.*.password or "
          + "initialPassword); use SSH keys, or hashedPassword if you must.";
      }
      {
        # nixpkgs refuses this too, in two assertions that do not say where the keys come from.
        assertion = rootKeys.keys != [ ] || rootKeys.keyFiles != [ ];
        message = "nixremote: root has no SSH key: rootAuthorizedKeys in runtime-info.json is "
          + "empty and no key is set elsewhere, so nobody could log in or unlock the disk "
          + "(port 2222). Put the public key(s) into rootAuthorizedKeys of runtime-info.json "
          + "(nixremote install: --authorized-key KEY, or the key it connects with), or set "
          + "users.users.root.openssh.authorizedKeys.keys in configuration.nix.";
      }
    ];

    nix.settings.experimental-features = [ "nix-command" "flakes" ];
    # `installed` is the editable flake in /etc/nixos, not a store copy of it; the flakes the
    # system is built from stay in its closure and keep their names in the registry.
    nix.registry = {
      installed.to = { type = "path"; path = cfg.flake.editable; };
    } // lib.mapAttrs (_: flake: { inherit flake; }) (removeAttrs cfg.flake.inputs [ "nixpkgs" ]);
    system.extraDependencies = map (flake: flake.outPath) (lib.attrValues cfg.flake.inputs);
    system.configurationRevision = mkIf (cfg.flake.source != null)
      (mkDefault (cfg.flake.source.rev or cfg.flake.source.dirtyRev or null));

    # The editable host flake, written by the installer; it survives the root reset. A bind
    # mount, not an /etc symlink: stage 2 creates /etc/nixos as a directory before activation.
    fileSystems."/etc/nixos" = {
      device = "${cfg.persistDir}/etc/nixos";
      fsType = "none";
      options = [ "bind" "nofail" ];
      depends = [ cfg.persistDir ];
    };

    boot.loader = {
      grub = lib.mkMerge [
        {
          enable = true;
          zfsSupport = true;
          efiSupport = cfg.boot.mode != "bios";
          # No NVRAM writes: a kexec'd installer often cannot reach the EFI variables, and the
          # removable path (\EFI\BOOT\BOOTX64.EFI) boots on any firmware.
          efiInstallAsRemovable = cfg.boot.mode != "bios";
        }
        # One disk: GRUB on it, /boot.
        (mkIf (builtins.length cfg.boot.devices <= 1) {
          devices = if cfg.boot.mode == "uefi" then [ "nodev" ] else cfg.boot.devices;
        })
        # Several (a mirrored pool): GRUB on each, each with its own partition 3 (/boot,
        # /boot-fallback, ...), so the host boots from whichever disk survives.
        (mkIf (builtins.length cfg.boot.devices > 1) {
          mirroredBoots = lib.imap0
            (i: disk: {
              devices = if cfg.boot.mode == "uefi" then [ "nodev" ] else [ disk ];
              path = disks.bootMountPoint i;
              efiSysMountPoint = disks.bootMountPoint i;
            })
            cfg.boot.devices;
        })
      ];
      efi = {
        canTouchEfiVariables = false;
        efiSysMountPoint = "/boot";
      };
    };
  };
}
