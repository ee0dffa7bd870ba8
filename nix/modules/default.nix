# All NixOS modules of an installed host (the installer environment is separate: installer.nix).
{
  imports = [
    ./core.nix
    ./ssh.nix
    ./zfs.nix
    ./network.nix
    ./impermanence.nix
    ./hetzner.nix
  ];
}
