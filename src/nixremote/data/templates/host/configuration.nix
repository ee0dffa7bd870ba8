# Your part of this host's configuration: edit freely, then
#   nixos-rebuild switch --flake /etc/nixos#installed
#
# nixremote's modules already set up: the network (from runtime-info.json), SSH with keys only,
# the encrypted ZFS pool with SSH unlock on port 2222, the root reset on every boot (keep what must
# survive under /persist) and the boot loader.
{ pkgs, ... }:
{
  # Packages for everyone on this host.
  environment.systemPackages = [
    pkgs.git
    pkgs.htop
  ];

  # More keys for root (the keys from runtime-info.json are always there):
  # users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAA... you@example" ];

  # Set once, at install time; see `man configuration.nix` before changing it.
  system.stateVersion = "25.11";
}
