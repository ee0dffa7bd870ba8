# Configuration shared by every host of this fleet.
{ pkgs, ... }:
{
  environment.systemPackages = [ pkgs.git ];

  # Keys that may log in as root on every host, in addition to each host's own:
  # users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAA... admin@example" ];
}
