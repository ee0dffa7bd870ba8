# A Hetzner Cloud server, created by terraform and installed with NixOS by nixremote.
#
#   export TF_VAR_hcloud_token=...            # a read/write API token of the project
#   terraform init && terraform apply
#
# What happens: the hcloud provider creates a Debian server whose SSH host key terraform generated
# (passed in cloud-init, so the first contact is verified, not trusted on first use); then
# `nixremote install` collects the runtime info, kexecs into the installer, partitions the disk
# with encrypted ZFS and installs the host flake. The host flake is kept in ./hosts/<name>/ (a
# nixremote fleet) so that later changes are `nixos-rebuild switch --flake .#<name>`.

terraform {
  required_version = ">= 1.5"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.49"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    local = {
      source  = "hashicorp/local"
      version = "~> 2.5"
    }
  }
}

variable "hcloud_token" {
  type        = string
  sensitive   = true
  description = "Hetzner Cloud API token."
}

variable "name" {
  type        = string
  default     = "nixos1"
  description = "Server name; also the host name of the installed NixOS."
}

variable "server_type" {
  type    = string
  default = "cx22"
}

variable "location" {
  type    = string
  default = "fsn1"
}

variable "ssh_public_key_file" {
  type        = string
  default     = "~/.ssh/id_ed25519.pub"
  description = "Your public key: root login on the server, the installer and the installed system."
}

variable "disk_key_file" {
  type        = string
  description = "File holding the ZFS encryption passphrase (never passed on a command line)."
}

variable "bundle" {
  type        = string
  default     = ""
  description = "Kexec bundle directory (nix build .#kexec in a nixremote checkout); empty: nixremote's default."
}

variable "fleet_dir" {
  type        = string
  default     = "./fleet"
  description = "Fleet flake that receives hosts/<name>/ after the install."
}

provider "hcloud" {
  token = var.hcloud_token
}

resource "hcloud_ssh_key" "admin" {
  name       = "${var.name}-admin"
  public_key = file(pathexpand(var.ssh_public_key_file))
}

# The host key of the Debian system the server starts with, known before it boots.
resource "tls_private_key" "first_boot_host_key" {
  algorithm = "ED25519"
}

resource "hcloud_server" "host" {
  name        = var.name
  image       = "debian-12"
  server_type = var.server_type
  location    = var.location
  ssh_keys    = [hcloud_ssh_key.admin.id]

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  user_data = join("\n", ["#cloud-config", yamlencode({
    ssh_deletekeys = true
    ssh_genkeytypes = []
    ssh_keys = {
      ed25519_private = tls_private_key.first_boot_host_key.private_key_openssh
      ed25519_public  = tls_private_key.first_boot_host_key.public_key_openssh
    }
  })])

  labels = {
    managed-by = "nixremote"
  }
}

resource "local_file" "known_hosts" {
  filename        = "${path.module}/known_hosts"
  file_permission = "0600"
  content = join("\n", [
    "${hcloud_server.host.ipv4_address} ${trimspace(tls_private_key.first_boot_host_key.public_key_openssh)}",
    "",
  ])
}

# First the runtime info, from the Debian system (the same facts the install uses), into the
# fleet; then the install. nixremote records the installer's and the installed system's host
# keys in the same known_hosts file.
resource "terraform_data" "install" {
  triggers_replace = [hcloud_server.host.id]

  provisioner "local-exec" {
    command = join(" && ", [
      "(test -f ${var.fleet_dir}/flake.nix || nixremote fleet init ${var.fleet_dir})",
      "nixremote info root@${hcloud_server.host.ipv4_address} --known-hosts ${local_file.known_hosts.filename} --hoster hetzner -o ${path.module}/${var.name}.runtime-info.json",
      "nixremote fleet add ${var.fleet_dir} ${path.module}/${var.name}.runtime-info.json --name ${var.name} --force",
    ])
  }

  provisioner "local-exec" {
    command = join(" ", compact([
      "nixremote install root@${hcloud_server.host.ipv4_address}",
      "--hoster hetzner",
      "--known-hosts ${local_file.known_hosts.filename}",
      "--disk-key-file ${var.disk_key_file}",
      var.bundle != "" ? "--bundle ${var.bundle}" : "",
      "--yes",
    ]))
  }
}

output "ipv4" {
  value = hcloud_server.host.ipv4_address
}

output "ipv6" {
  value = hcloud_server.host.ipv6_address
}

output "unlock" {
  value = "ssh -p 2222 root@${hcloud_server.host.ipv4_address}   # enter the ZFS passphrase after a reboot"
}
