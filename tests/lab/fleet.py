"""One inventory and ansible.cfg for several labs, joined as a fleet the way docs/fleets.md
describes it: a group per ensemble (zk_<lab name>) naming it with zookeeper_ensemble_name,
all children of "zookeeper"; each host named <lab name>-<host name> (every lab has a zk1)."""
import json
import os


def host_name(lab, h):
    """The inventory name of a lab host: its lab's name and its own."""
    return "%s-%s" % (lab.name, h.name)


def write_inventory(labs, directory):
    """Write inventory.json, known_hosts and ansible.cfg for ``labs`` into ``directory``;
    return (inventory path, ansible.cfg path)."""
    groups, known = {}, []
    for lab in labs:
        with open(lab.known_hosts) as f:
            known.append(f.read())
        groups["zk_" + lab.name.replace("-", "_")] = {
            "vars": {"zookeeper_ensemble_name": lab.name,
                     "ansible_ssh_private_key_file": lab.key,
                     "zookeeper_backup_hosts": [host_name(lab, b) for b in lab.backup_hosts]},
            "hosts": {host_name(lab, h): {"ansible_host": h.ip, "zookeeper_myid": h.myid}
                      for h in lab.members}}
    backups = {host_name(lab, b): {"ansible_host": b.ip, "ansible_ssh_private_key_file": lab.key}
               for lab in labs for b in lab.backup_hosts}
    inv = {"all": {"vars": {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                            "zookeeper_client_port": labs[0].client_port},
                   "children": {"zookeeper": {"children": groups},
                                "zookeeper_backup_hosts": {"hosts": backups}}}}
    os.makedirs(directory, exist_ok=True)
    inventory = os.path.join(directory, "inventory.json")
    with open(inventory, "w") as f:
        json.dump(inv, f, indent=1)
    known_hosts = os.path.join(directory, "known_hosts")
    with open(known_hosts, "w") as f:
        f.write("".join(known))
    with open(labs[0].ansible_cfg) as f:
        cfg = f.read().replace(labs[0].known_hosts, known_hosts).replace(labs[0].inventory, inventory)
    cfg_path = os.path.join(directory, "ansible.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    return inventory, cfg_path
