# nixremote: install NixOS with encrypted ZFS onto a remote Linux host over SSH.
#
# Outputs (docs/nix.md explains each):
#   packages.<system>.{nixremote, nixremote-installer, kexec, netboot, iso, default}
#   nixosModules.{default, core, ssh, zfs, network, hetzner, impermanence, installer}
#   lib.{makeSystem, makeFleet, discoverHosts, network, ...}
#   templates.{host, fleet}, checks.<system>.*, formatter.<system>, devShells.<system>.default
#
# `nixpkgs` is an ordinary input: `--override-input nixpkgs github:NixOS/nixpkgs/nixos-25.05`
# (or `inputs.nixpkgs.follows` in a flake that uses this one) picks another release.
{
  description = "Install NixOS with encrypted ZFS onto a remote Linux host over SSH";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      nixremoteLib = import ./nix/lib { inherit self nixpkgs; };

      # The installer environment for `system`, on a given boot medium.
      installerSystem = system: medium:
        nixpkgs.lib.nixosSystem {
          modules = [
            medium
            ({ pkgs, ... }: {
              nixpkgs.hostPlatform = system;
              nixremote.installer.package = self.packages.${system}.nixremote-installer;
              # Carried in the image: the host flake's flake.lock pins these store paths.
              nixremote.installer.flakeInputs = { nixremote = self; inherit nixpkgs; };
            })
          ];
        };
    in
    {
      lib = nixremoteLib;

      nixosModules = {
        default = ./nix/modules;
        core = ./nix/modules/core.nix;
        ssh = ./nix/modules/ssh.nix;
        zfs = ./nix/modules/zfs.nix;
        network = ./nix/modules/network.nix;
        hetzner = ./nix/modules/hetzner.nix;
        impermanence = ./nix/modules/impermanence.nix;
        installer = ./nix/modules/installer.nix;
      };

      packages = forAllSystems (system: pkgs:
        let
          netbootInstaller = installerSystem system ./nix/installer/netboot.nix;
          isoInstaller = installerSystem system ./nix/installer/iso.nix;
        in
        rec {
          nixremote = pkgs.callPackage ./nix/packages/nixremote.nix { };
          nixremote-installer = pkgs.callPackage ./nix/packages/nixremote.nix { variant = "installer"; };
          kexec = pkgs.callPackage ./nix/packages/kexec.nix {
            installer = netbootInstaller;
            inherit nixremote;
          };
          netboot = pkgs.symlinkJoin {
            name = "nixremote-netboot-${system}";
            paths = with netbootInstaller.config.system.build; [ netbootRamdisk kernel netbootIpxeScript ];
            preferLocalBuild = true;
          };
          iso = isoInstaller.config.system.build.isoImage;
          default = nixremote;
        });

      templates = {
        host = {
          path = ./src/nixremote/data/templates/host;
          description = "One host installed by nixremote (put its runtime-info.json beside flake.nix)";
          welcomeText = ''
            Copy the host's runtime-info.json here (`nixremote info HOST > runtime-info.json`),
            edit configuration.nix, then build with
            `nix build .#nixosConfigurations.installed.config.system.build.toplevel`.
            `nixremote.url` in flake.nix is `flake:nixremote`: name nixremote in your registry
            (`nix registry add nixremote REF`) or write REF there.
          '';
        };
        fleet = {
          path = ./src/nixremote/data/templates/fleet;
          description = "Many hosts: one hosts/<name>/ directory each, discovered automatically";
          welcomeText = ''
            Add a host with `nixremote fleet add . runtime-info.json`; no edit of flake.nix needed.
          '';
        };
        default = self.templates.host;
      };

      checks = forAllSystems (system: pkgs:
        let
          testsDir = ./tests/nix/cases;
          network = import ./nix/lib/network.nix;
          caseNames = builtins.filter
            (n: builtins.pathExists (testsDir + "/${n}/expected.json"))
            (builtins.attrNames (builtins.readDir testsDir));
          # The same cases as tests/nix/test_network_nix.py, compared at evaluation time.
          networkCase = name:
            let
              got = network.toNixos (builtins.fromJSON (builtins.readFile (testsDir + "/${name}/runtime-info.json")));
              want = builtins.fromJSON (builtins.readFile (testsDir + "/${name}/expected.json"));
            in
            if got == want then true else throw "network case ${name}: got ${builtins.toJSON got}";
          example = self.lib.makeSystem {
            runtimeInfo = testsDir + "/hoster/runtime-info.json";
            flake = self;
            system = system;
          };
        in
        {
          inherit (self.packages.${system}) nixremote nixremote-installer;
          network-function = pkgs.runCommand "nixremote-network-function"
            { cases = builtins.toJSON (map networkCase caseNames); } "echo $cases > $out";
          # Evaluates a whole installed system (every module, every assertion) without building it.
          eval-host = pkgs.writeText "nixremote-eval-host"
            (builtins.unsafeDiscardStringContext example.config.system.build.toplevel.drvPath);
          # The same for the installer environment.
          eval-installer = pkgs.writeText "nixremote-eval-installer"
            (builtins.unsafeDiscardStringContext
              (installerSystem system ./nix/installer/netboot.nix).config.system.build.toplevel.drvPath);
        });

      # The RFC 166 style; it is `nixfmt` from 25.11 on, `nixfmt-rfc-style` before.
      formatter = forAllSystems (system: pkgs:
        if nixpkgs.lib.versionAtLeast nixpkgs.lib.trivial.release "25.11"
        then pkgs.nixfmt else pkgs.nixfmt-rfc-style);

      devShells = forAllSystems (system: pkgs: {
        default = pkgs.mkShell {
          packages = [
            (pkgs.python3.withPackages (ps: with ps; [
              pluggy attrs cattrs click fabric hcloud rich pytest hypothesis jsonschema
            ]))
            pkgs.openssh pkgs.gptfdisk pkgs.dosfstools pkgs.qemu pkgs.nix
          ];
        };
      });
    };
}
