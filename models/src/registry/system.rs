//! Resolving a system: its node (own or borrowed from another system), its cluster
//! and its economics.

use super::resolve::{p, to_u32, Resolver};
use crate::schema::*;
use crate::spec::*;

impl<'a> Resolver<'a> {
    pub(super) fn system(&mut self, s: &SystemProfile, depth: usize) -> Option<SystemSpec> {
        let node = self.system_node(s, depth);
        let cluster = s.cluster.as_ref().map(|c| self.cluster(c));
        let economics = self.economics(s.economics.as_ref());
        let node = node?;
        let cluster = match cluster {
            Some((nodes, fabric, topology)) => Some(ClusterSpec {
                nodes: to_u32(nodes),
                total_gpus: nodes * node.gpus.len() as u64,
                fabric: fabric?,
                topology,
            }),
            None => None,
        };
        Some(SystemSpec {
            name: s.name.clone(),
            description: s.description.clone(),
            preliminary: s.preliminary,
            node,
            cluster,
            economics,
        })
    }

    /// The `[node]` table, or the node of the system `node_system` names.
    fn system_node(&mut self, s: &SystemProfile, depth: usize) -> Option<NodeSpec> {
        match (&s.node, &s.node_system) {
            (Some(n), None) => self.node(n),
            (None, Some(other)) => {
                if depth > 4 {
                    self.err(
                        &p(&["node_system"]),
                        "node_system chain is too deep (a cycle?)",
                        None,
                    );
                    return None;
                }
                self.part(
                    &p(&["node_system"]),
                    other,
                    PartKind::System,
                    |r, pr| match pr {
                        Profile::System(sp) => r.system(sp, depth + 1).map(|sys| sys.node),
                        _ => None,
                    },
                )
            }
            (Some(_), Some(_)) => {
                self.err(
                    &p(&["node_system"]),
                    "both [node] and node_system are given",
                    Some("give one: a [node] table or node_system = \"<system name>\"".to_string()),
                );
                None
            }
            (None, None) => {
                self.err(&p(&["name"]), "missing [node] (or node_system)", Some("add a [node] table, or node_system = \"deepseek-h800-node\" to reuse another system's node".to_string()));
                None
            }
        }
    }

    /// (node count, fabric, topology) of a `[cluster]` table.
    fn cluster(&mut self, c: &ClusterProfile) -> (u64, Option<FabricSpec>, Option<String>) {
        let nodes = self.count(&p(&["cluster", "nodes"]), &c.nodes, 1, 1_000_000);
        let fabric = self.part(
            &p(&["cluster", "fabric"]),
            &c.fabric,
            PartKind::Fabric,
            |r, pr| match pr {
                Profile::Fabric(fp) => r.fabric(fp),
                _ => None,
            },
        );
        (nodes, fabric, c.topology.clone())
    }

    fn economics(&mut self, ec: Option<&EconomicsProfile>) -> EconomicsSpec {
        let mut economics = EconomicsSpec::default();
        let Some(ec) = ec else {
            return economics;
        };
        if let Some(t) = &ec.purchase {
            self.tagged(&p(&["economics", "purchase"]), t);
            economics.purchase_micro_usd = Some(t.value.0);
        }
        if let Some(t) = &ec.hourly {
            self.tagged(&p(&["economics", "hourly"]), t);
            economics.hourly_micro_usd = Some(t.value.0);
        }
        if let Some(t) = &ec.power {
            self.tagged(&p(&["economics", "power"]), t);
            economics.power_mw = Some(t.value.0);
        }
        if let Some(t) = &ec.rack_units {
            let units = self.count(&p(&["economics", "rack_units"]), t, 1, 100);
            economics.rack_units = Some(to_u32(units));
        }
        economics
    }
}
