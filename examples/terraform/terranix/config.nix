# The same as ../main.tf, written with terranix (https://terranix.org): Nix that renders to
# terraform JSON.
#
#   nix run github:terranix/terranix -- config.nix > config.tf.json   (or terranix's flake API)
#   terraform init && terraform apply
{ lib, ... }:
let
  name = "nixos1";
  ip = "\${hcloud_server.host.ipv4_address}";
  knownHosts = "\${local_file.known_hosts.filename}";
  fleetDir = "./fleet";
in
{
  terraform.required_providers = {
    hcloud = { source = "hetznercloud/hcloud"; version = "~> 1.49"; };
    tls = { source = "hashicorp/tls"; version = "~> 4.0"; };
    local = { source = "hashicorp/local"; version = "~> 2.5"; };
  };

  variable.hcloud_token = { type = "string"; sensitive = true; };
  variable.disk_key_file = { type = "string"; };
  variable.ssh_public_key_file = { type = "string"; default = "~/.ssh/id_ed25519.pub"; };

  provider.hcloud.token = "\${var.hcloud_token}";

  resource.hcloud_ssh_key.admin = {
    name = "${name}-admin";
    public_key = "\${file(pathexpand(var.ssh_public_key_file))}";
  };

  resource.tls_private_key.first_boot_host_key.algorithm = "ED25519";

  resource.hcloud_server.host = {
    inherit name;
    image = "debian-12";
    server_type = "cx22";
    location = "fsn1";
    ssh_keys = [ "\${hcloud_ssh_key.admin.id}" ];
    public_net = { ipv4_enabled = true; ipv6_enabled = true; };
    user_data = lib.concatStringsSep "\n" [
      "#cloud-config"
      "ssh_deletekeys: true"
      "ssh_genkeytypes: []"
      "ssh_keys:"
      "  ed25519_private: \${jsonencode(tls_private_key.first_boot_host_key.private_key_openssh)}"
      "  ed25519_public: \${jsonencode(tls_private_key.first_boot_host_key.public_key_openssh)}"
    ];
    labels.managed-by = "nixremote";
  };

  resource.local_file.known_hosts = {
    filename = "\${path.module}/known_hosts";
    file_permission = "0600";
    content = "${ip} \${trimspace(tls_private_key.first_boot_host_key.public_key_openssh)}\n";
  };

  resource.terraform_data.install = {
    triggers_replace = [ "\${hcloud_server.host.id}" ];
    provisioner = [
      {
        local-exec.command = lib.concatStringsSep " && " [
          "(test -f ${fleetDir}/flake.nix || nixremote fleet init ${fleetDir})"
          "nixremote info root@${ip} --known-hosts ${knownHosts} --hoster hetzner -o ${name}.runtime-info.json"
          "nixremote fleet add ${fleetDir} ${name}.runtime-info.json --name ${name} --force"
        ];
      }
      {
        local-exec.command = lib.concatStringsSep " " [
          "nixremote install root@${ip}"
          "--hoster hetzner"
          "--known-hosts ${knownHosts}"
          "--disk-key-file \${var.disk_key_file}"
          "--yes"
        ];
      }
    ];
  };

  output.ipv4.value = ip;
  output.ipv6.value = "\${hcloud_server.host.ipv6_address}";
}
